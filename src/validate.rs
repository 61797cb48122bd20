//! How a settings type's `validate()` ends: every problem it found (a dotted
//! key and what is wrong with it) at once, so start-up names them all, not
//! only the first.

/// `Ok` when nothing was found, else everything that was.
pub(crate) fn outcome<T>(problems: Vec<T>) -> Result<(), Vec<T>> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn no_problem_is_ok_and_every_problem_is_kept() {
        assert_eq!(outcome::<(String, String)>(Vec::new()), Ok(()));
        let found = vec![
            ("a".to_owned(), "x".to_owned()),
            ("b".to_owned(), "y".to_owned()),
        ];
        assert_eq!(outcome(found.clone()), Err(found));
    }
}
