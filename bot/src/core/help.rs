//! The help text: one entry per command, each with an example. Pure data.

/// (command, usage, what it does, example)
pub const COMMANDS: &[(&str, &str, &str, &str)] = &[
    (
        "deploy",
        "deploy[!][:task] <app>[/<ref>|@<ref>] [to <env>[/<host>]] [--dry-run] [--emergency \"<reason>\"]",
        "Deploy a ref of an app (default: the app's default ref, to the default env). `--dry-run` prints the plan and runs nothing. `deploy!` skips the CI gate of an app with a GitHub repo.",
        "deploy api@v1.4.2 to staging",
    ),
    (
        "rollback",
        "rollback <app> in <env> [to <version>]",
        "Deploy the last good version again (or the one named).",
        "rollback api in staging",
    ),
    (
        "cancel",
        "cancel #N",
        "Withdraw a waiting deploy, or stop a running one after its current step and roll back. Who asked for it may cancel it, and so may the env's approvers; where the env needs no approval, anyone who may deploy there.",
        "cancel #12",
    ),
    (
        "approve",
        "approve #N",
        "Approve a deploy (same as reacting ✅).",
        "approve #12",
    ),
    (
        "deny",
        "deny #N [reason]",
        "Deny a deploy (same as reacting ❌).",
        "deny #12 not during the demo",
    ),
    (
        "status",
        "status [#N]",
        "What is running and queued, or one deploy in detail.",
        "status #12",
    ),
    (
        "live",
        "live [<app>] [in <env>] [--check]",
        "What version is live where. Also: `what's live on prod`, `version api in prod`, `where is api`. `--check` asks the hosts.",
        "live api in prod",
    ),
    (
        "history",
        "history [<app>] [in <env>] [last <N>]",
        "Recent deploys, newest first. Also: `deploys api/main in prod`.",
        "history api in staging last 5",
    ),
    (
        "search",
        "search <words> [app:<a>] [env:<e>] [user:<u>] [status:<s>] [since:<date>] [until:<date>] [sha:<prefix>]",
        "Search the deploy log, command output included. Alias: `log`.",
        "search migration failed app:api env:prod",
    ),
    (
        "lock",
        "lock <app> [in <env>] [--reason \"<why>\"] / lock <env>",
        "Hold a target so only you can deploy to it.",
        "lock api in prod --reason \"db maintenance\"",
    ),
    (
        "unlock",
        "unlock <app> [in <env>] / unlock <env>",
        "Release a lock.",
        "unlock api in prod",
    ),
    ("locks", "locks", "List the locks.", "locks"),
    (
        "freeze",
        "freeze <env> [for <duration>|until <time>] [--reason \"<why>\"]",
        "Freeze an env from chat.",
        "freeze prod for 2h --reason \"launch\"",
    ),
    (
        "unfreeze",
        "unfreeze <env>",
        "End a one-off freeze.",
        "unfreeze prod",
    ),
    (
        "windows",
        "windows [<env>]",
        "Freeze windows, with when the next one starts or the current one ends.",
        "windows prod",
    ),
    (
        "wcid",
        "wcid [<app>]",
        "Where can I deploy: every env and whether a deploy is possible now. Also: `where can I deploy api`.",
        "wcid api",
    ),
    (
        "help",
        "help [<command>]",
        "This help, or one command's.",
        "help deploy",
    ),
];

/// `help` with no topic: one line per command.
pub fn overview() -> String {
    let mut out = String::from(
        "Commands (prefix them with `!` or `.` in a channel; `help <command>` for more):",
    );
    for (name, _, what, example) in COMMANDS {
        out.push_str(&format!("\n• {name}: {what} e.g. `{example}`"));
    }
    out
}

/// `help <topic>`, or `None` when there is no such command.
pub fn topic(name: &str) -> Option<String> {
    let name = name.trim_start_matches(['!', '.']).to_ascii_lowercase();
    COMMANDS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(n, usage, what, example)| {
            format!("{n}: {what}\nUsage: `{usage}`\nExample: `{example}`")
        })
}

/// The command names, for suggestions.
pub fn names() -> impl Iterator<Item = &'static str> + Clone {
    COMMANDS.iter().map(|(n, ..)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_an_example_and_a_topic() {
        for (name, usage, what, example) in COMMANDS {
            assert!(!usage.is_empty() && !what.is_empty() && !example.is_empty());
            assert!(topic(name).unwrap().contains(example));
        }
        assert!(topic("frobnicate").is_none());
        assert!(overview().contains("deploy api@v1.4.2 to staging"));
    }
}
