//! A helper program for `tests/cleanup.rs` (`a_panicking_test_leaves_nothing_behind`), not a test: it
//! starts a fixture stack, joins a bot, prints `RUN-ID <id>` once its stack is up, and panics with the
//! stack still up. The parent then checks that no container or network of that run id survived.

#[path = "../support/mod.rs"]
mod support;

fn main() {
    support::runtime().block_on(async {
        let stack = support::start("13", &support::variant("jwt-auto-owner"), "panic-child").await;
        let ep = stack.endpoints().clone();
        let _bot = support::join(&ep, &support::room("panic"), "alice")
            .await
            .expect("alice joins");
        let (containers, networks) = support::labelled(
            harness::stack::docker::LABEL_RUN,
            harness::stack::docker::run_id(),
        )
        .await;
        assert_eq!((containers, networks), (2, 1), "the child's stack is up");
        println!("RUN-ID {}", harness::stack::docker::run_id());
        panic!("deliberate panic with a stack up");
    });
}
