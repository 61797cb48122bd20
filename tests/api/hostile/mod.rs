//! Hostile documents and request bodies: each attack is refused quickly and
//! clearly, and the gateway keeps serving.

mod attacks;
mod fuzz;
