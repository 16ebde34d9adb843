//! The built-in release layout (`layout = "releases"` in a recipe), after Capistrano's and
//! Deployer's: each host's directory holds `releases/<release>/`, a `current` link to the live
//! one and a `REVISION` file naming the live version.
//!
//! A deploy runs on each host: `release` (make the release directory), the task's own steps
//! *inside* that directory, `switch` (write the release's REVISION, point `current` at it with
//! `ln -sfn` + `mv -T`, an atomic rename, then the top-level `REVISION`), and `cleanup` (keep
//! the newest `keep` releases, never the live one). A release that failed its health check gets
//! a `BAD_RELEASE` file; rolling back is a switch of the link to the previous release, not a
//! rebuild, and a `rollback` deploy to a release still complete on a host only switches.
//!
//! Pure: this module produces the step list and the fixed shell text of the built-in steps.
//! The scripts are constants: every value (version, release, previous release, how many to
//! keep) reaches them as a `DECKHAND_*` environment variable, like any recipe step.

use std::borrow::Cow;
use std::time::Duration;

use crate::core::recipe::{Layout, Task};

/// The release directory's name for a version: refs may contain `/` (`feature/login`), which
/// would nest directories and confuse cleanup; `%` never appears in a valid ref, so `%2F` keeps
/// names distinct and readable.
pub fn release_name(version: &str) -> String {
    version.replace('/', "%2F")
}

/// One step as a host runs it: a recipe step, or one of the layout's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep<'a> {
    pub name: Cow<'a, str>,
    pub script: Cow<'a, str>,
    /// `None`: the recipe's `step_timeout`.
    pub timeout: Option<Duration>,
    /// One of the layout's steps rather than the recipe's.
    pub builtin: bool,
}

impl PlannedStep<'_> {
    /// The recipe's own text of the step (without the `cd` into the release the layout puts
    /// before it); `None` for the layout's own steps.
    pub fn own_text(&self) -> Option<&str> {
        (!self.builtin).then(|| self.script.strip_prefix(IN_RELEASE).unwrap_or(&self.script))
    }
}

/// The steps a host runs for `task` (named `task_name`) under `layout`. Only the `deploy` task
/// makes a release; other tasks (`deploy:migrate`) run as written, in the host's directory.
pub fn task_steps<'a>(layout: Layout, task_name: &str, task: &'a Task) -> Vec<PlannedStep<'a>> {
    let own = task.steps.iter().map(|s| PlannedStep {
        name: Cow::Borrowed(s.name.as_str()),
        script: Cow::Borrowed(s.run.as_str()),
        timeout: s.timeout,
        builtin: false,
    });
    match layout {
        Layout::Releases { .. } if task_name == "deploy" => {
            let mut steps = vec![builtin("release", PREPARE)];
            steps.extend(own.map(|mut s| {
                s.script = Cow::Owned(format!("{IN_RELEASE}{}", s.script));
                s
            }));
            steps.push(builtin("switch", SWITCH));
            steps.push(builtin("cleanup", CLEANUP));
            steps
        }
        _ => own.collect(),
    }
}

/// What a `rollback` deploy runs on a host that still has the release, complete and not marked
/// bad: the link is switched, nothing is rebuilt.
pub fn switch_only() -> Vec<PlannedStep<'static>> {
    vec![builtin("switch", SWITCH)]
}

/// The steps that undo a failed or cancelled deploy on a host it changed: under the release
/// layout, mark the release bad when its health check failed, then switch back, then the
/// recipe's own rollback steps (a service restart, say). `None` when there is nothing to run.
pub fn rollback_steps<'a>(
    layout: Layout,
    recipe_rollback: Option<&'a Task>,
    mark_bad: bool,
) -> Option<Vec<PlannedStep<'a>>> {
    let mut steps = Vec::new();
    if let Layout::Releases { .. } = layout {
        if mark_bad {
            steps.push(builtin("mark bad", MARK_BAD));
        }
        steps.push(builtin("switch back", SWITCH_BACK));
    }
    if let Some(task) = recipe_rollback {
        steps.extend(task.steps.iter().map(|s| PlannedStep {
            name: Cow::Borrowed(s.name.as_str()),
            script: Cow::Borrowed(s.run.as_str()),
            timeout: s.timeout,
            builtin: false,
        }));
    }
    (!steps.is_empty()).then_some(steps)
}

/// The layout's values for a step, beside the usual `DECKHAND_*` ones.
pub fn vars(layout: Layout, version: &str, previous: Option<&str>) -> Vec<(String, String)> {
    match layout {
        Layout::Plain => Vec::new(),
        Layout::Releases { keep } => vec![
            ("DECKHAND_RELEASE".to_owned(), release_name(version)),
            (
                "DECKHAND_PREVIOUS_RELEASE".to_owned(),
                previous.map(release_name).unwrap_or_default(),
            ),
            ("DECKHAND_KEEP_RELEASES".to_owned(), keep.to_string()),
        ],
    }
}

/// The version probe of a recipe that names none but uses the layout.
pub const DEFAULT_VERSION_PROBE: &str = "cat REVISION 2>/dev/null || true";

/// Prints `complete` when `releases/$DECKHAND_RELEASE` finished its steps (its REVISION is
/// written by `switch`) and is not marked bad; `missing` otherwise.
pub const HAS_RELEASE: &str = r#"if [ -f "releases/$DECKHAND_RELEASE/REVISION" ] && ! [ -e "releases/$DECKHAND_RELEASE/BAD_RELEASE" ]; then echo complete; else echo missing; fi"#;

/// What [`HAS_RELEASE`] prints for a release that only needs a switch.
pub const RELEASE_COMPLETE: &str = "complete";

fn builtin(name: &'static str, script: &'static str) -> PlannedStep<'static> {
    PlannedStep {
        name: Cow::Borrowed(name),
        script: Cow::Borrowed(script),
        timeout: None,
        builtin: true,
    }
}

/// Put before each of the deploy task's own steps: they run in the release directory.
const IN_RELEASE: &str = "cd \"releases/$DECKHAND_RELEASE\" || exit 1\n";

/// A redeploy of a version starts it afresh: the old REVISION (the "complete" mark) and any
/// BAD_RELEASE go. `touch` makes it the newest for cleanup.
const PREPARE: &str = r#"set -e
mkdir -p "releases/$DECKHAND_RELEASE"
rm -f "releases/$DECKHAND_RELEASE/REVISION" "releases/$DECKHAND_RELEASE/BAD_RELEASE"
touch "releases/$DECKHAND_RELEASE"
echo "releases/$DECKHAND_RELEASE is ready on $DECKHAND_HOST"
"#;

/// `mv -T` renames the new link over `current` in one system call: readers see the old release
/// or the new one, never neither.
const SWITCH: &str = r#"set -e
printf '%s\n' "$DECKHAND_VERSION" > "releases/$DECKHAND_RELEASE/REVISION"
ln -sfn "releases/$DECKHAND_RELEASE" current.deckhand-new
mv -T current.deckhand-new current
printf '%s\n' "$DECKHAND_VERSION" > REVISION.deckhand-new
mv -f REVISION.deckhand-new REVISION
echo "current -> releases/$DECKHAND_RELEASE"
"#;

/// Keeps the newest `$DECKHAND_KEEP_RELEASES` (by the time `release` touched them) and the live
/// one. Release names come from validated refs: no newlines, never a leading `-`.
const CLEANUP: &str = r#"set -e
live=$(readlink current 2>/dev/null || true)
ls -1t releases | tail -n +"$((DECKHAND_KEEP_RELEASES + 1))" | while IFS= read -r old; do
  if [ "releases/$old" != "$live" ]; then
    rm -rf "releases/$old"
    echo "removed old release $old"
  fi
done
echo "keeping the newest $DECKHAND_KEEP_RELEASES releases"
"#;

const MARK_BAD: &str = r#"if [ -d "releases/$DECKHAND_RELEASE" ]; then
  printf 'health check failed in deploy #%s\n' "$DECKHAND_DEPLOY_ID" > "releases/$DECKHAND_RELEASE/BAD_RELEASE"
  echo "marked releases/$DECKHAND_RELEASE bad"
fi
"#;

const SWITCH_BACK: &str = r#"set -e
if [ -n "$DECKHAND_PREVIOUS_RELEASE" ] && [ -d "releases/$DECKHAND_PREVIOUS_RELEASE" ]; then
  ln -sfn "releases/$DECKHAND_PREVIOUS_RELEASE" current.deckhand-new
  mv -T current.deckhand-new current
  printf '%s\n' "$DECKHAND_PREVIOUS_VERSION" > REVISION.deckhand-new
  mv -f REVISION.deckhand-new REVISION
  echo "current -> releases/$DECKHAND_PREVIOUS_RELEASE: back on $DECKHAND_PREVIOUS_VERSION"
elif [ -n "$DECKHAND_PREVIOUS_RELEASE" ]; then
  echo "releases/$DECKHAND_PREVIOUS_RELEASE is no longer on this host: cannot switch back to $DECKHAND_PREVIOUS_VERSION" >&2
  exit 1
else
  rm -f current REVISION
  echo "nothing was live before: removed current and REVISION"
fi
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::recipe::Step;

    fn task(names: &[&str]) -> Task {
        Task {
            steps: names
                .iter()
                .map(|n| Step {
                    name: (*n).to_owned(),
                    run: format!("echo {n}"),
                    timeout: None,
                })
                .collect(),
        }
    }

    fn names(steps: &[PlannedStep<'_>]) -> Vec<String> {
        steps.iter().map(|s| s.name.to_string()).collect()
    }

    #[test]
    fn the_deploy_task_is_wrapped_in_release_switch_and_cleanup() {
        let t = task(&["build", "migrate"]);
        let steps = task_steps(Layout::Releases { keep: 5 }, "deploy", &t);
        assert_eq!(
            names(&steps),
            ["release", "build", "migrate", "switch", "cleanup"]
        );
        assert!(
            steps[1]
                .script
                .starts_with("cd \"releases/$DECKHAND_RELEASE\"")
        );
        assert!(steps[1].script.ends_with("echo build"));
        assert!(steps[0].builtin && !steps[1].builtin);
        assert_eq!(steps[1].own_text(), Some("echo build"));
        assert_eq!(steps[0].own_text(), None);
    }

    #[test]
    fn other_tasks_and_plain_recipes_run_as_written() {
        let t = task(&["migrate"]);
        let steps = task_steps(Layout::Releases { keep: 5 }, "migrate", &t);
        assert_eq!(names(&steps), ["migrate"]);
        assert_eq!(steps[0].script, "echo migrate");
        let steps = task_steps(Layout::Plain, "deploy", &t);
        assert_eq!(names(&steps), ["migrate"]);
    }

    #[test]
    fn rollback_switches_back_marks_bad_then_runs_the_recipes_own() {
        let own = task(&["restart"]);
        let layout = Layout::Releases { keep: 5 };
        let steps = rollback_steps(layout, Some(&own), true).unwrap();
        assert_eq!(names(&steps), ["mark bad", "switch back", "restart"]);
        let steps = rollback_steps(layout, None, false).unwrap();
        assert_eq!(names(&steps), ["switch back"]);
        assert!(rollback_steps(Layout::Plain, None, true).is_none());
        assert_eq!(
            names(&rollback_steps(Layout::Plain, Some(&own), true).unwrap()),
            ["restart"]
        );
    }

    #[test]
    fn release_names_never_nest_directories() {
        assert_eq!(release_name("v1.2.0"), "v1.2.0");
        assert_eq!(release_name("feature/login"), "feature%2Flogin");
        let vars = vars(Layout::Releases { keep: 3 }, "a/b", Some("v1"));
        assert_eq!(
            vars,
            [
                ("DECKHAND_RELEASE".to_owned(), "a%2Fb".to_owned()),
                ("DECKHAND_PREVIOUS_RELEASE".to_owned(), "v1".to_owned()),
                ("DECKHAND_KEEP_RELEASES".to_owned(), "3".to_owned()),
            ]
        );
    }
}
