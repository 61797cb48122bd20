//! Many logins at once are each answered for the right user.

use futures::future::join_all;

use super::{error, login, ok, s, seed};
use crate::helpers::spawn_full;

const USERS: usize = 20;

fn account(i: usize) -> (String, String) {
    (format!("c{i:02}@example.com"), format!("Conc-Passw0rd-{i}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_logins_are_answered_correctly() {
    let app = spawn_full(|s| {
        // the emulator verifies each password with Argon2 (~50-80 ms of CPU on
        // the 2-core CI machine): 100 at once take seconds, so the default 10 s
        // upstream timeout would measure the machine, not the gateway
        s.auth0.timeout = std::time::Duration::from_secs(120);
        // 100 logins from one address: our own per-IP limit (tested in
        // fleet::limits) would refuse most of them; this test is about the
        // provider path under concurrency
        s.limits.enabled = false;
        for i in 0..USERS {
            let (email, password) = account(i);
            s.emulator.users.push(seed(&email, &password));
        }
    })
    .await;
    // each user: right, wrong, right, wrong, right (never near the
    // brute-force threshold of 10)
    let attempts: Vec<(usize, bool)> = (0..100)
        .map(|n| (n % USERS, (n / USERS) % 2 == 0))
        .collect();
    let answers = join_all(attempts.iter().map(|&(i, right)| {
        let app = &app;
        async move {
            let (email, password) = account(i);
            let password = if right {
                password
            } else {
                format!("{password}-wrong")
            };
            login(app, &email, &password).await
        }
    }))
    .await;
    let mut ids = vec![None::<String>; USERS];
    let mut successes = 0;
    for (&(i, right), g) in attempts.iter().zip(&answers) {
        if right {
            let p = ok(g, "login");
            assert_eq!(p["user"]["email"], account(i).0.as_str());
            let id = s(&p["user"], "id").to_owned();
            // every login of a user has the same subject, and no one else's
            match &ids[i] {
                Some(known) => assert_eq!(known, &id),
                None => ids[i] = Some(id),
            }
            // the access token itself is the user's (not another answer's)
            let sub = super::login::jwt_claims(s(p, "accessToken"))["sub"].clone();
            assert_eq!(sub, p["user"]["id"]);
            successes += 1;
        } else {
            error(g, "INVALID_CREDENTIALS");
        }
    }
    let distinct: std::collections::HashSet<_> = ids.iter().flatten().collect();
    assert_eq!(distinct.len(), USERS);
    assert_eq!(successes, 60);
}
