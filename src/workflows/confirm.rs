//! kubeadm's confirmation before a command that changes a running node (`reset`, `upgrade
//! apply`): a warning, a `[y/N]` question on stderr, and an answer read from standard input.

use std::borrow::Cow;
use std::io::{BufRead, IsTerminal, Write};

use kubestrap_phases::Diagnostic;

/// What to ask: the command (`reset`), the warning line before the question, and the flag
/// that skips asking.
pub(crate) struct Question<'a> {
    pub command: &'a str,
    pub warning: String,
    pub flag: &'a str,
}

/// Why the command did not go ahead: the user did not confirm.
#[derive(Debug, thiserror::Error)]
#[error("{command} aborted: {why}")]
pub(crate) struct Aborted {
    command: String,
    flag: String,
    why: &'static str,
}

impl Diagnostic for Aborted {
    fn hint(&self) -> Option<Cow<'_, str>> {
        Some(format!("pass {} to {} without asking", self.flag, self.command).into())
    }
}

/// kubeadm asks before it resets or upgrades; an answer other than y/yes, or none (end of
/// input), stops. Input is read even when it is not a terminal, as kubeadm does, so `yes |
/// kubestrap reset` works; only the prompt depends on a terminal.
pub(crate) fn confirm(q: &Question<'_>) -> Result<(), Aborted> {
    let prefix = q.command.split(' ').next().unwrap_or(q.command);
    let mut err = std::io::stderr();
    let _ = writeln!(err, "[{prefix}] WARNING: {}", q.warning);
    let _ = write!(err, "[{prefix}] Are you sure you want to proceed? [y/N]: ");
    let _ = err.flush();
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    if !std::io::stdin().is_terminal() {
        // A piped answer is not echoed: end the prompt's line.
        let _ = writeln!(err);
    }
    let aborted = |why| Aborted {
        command: q.command.to_string(),
        flag: q.flag.to_string(),
        why,
    };
    match read {
        Ok(0) | Err(_) if std::io::stdin().is_terminal() => Err(aborted("no answer")),
        Ok(0) | Err(_) => Err(aborted("no confirmation on standard input")),
        Ok(_) => match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err(aborted("the answer was not y")),
        },
    }
}
