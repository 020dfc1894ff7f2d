//! In-chat commands every channel understands: `/new`, `/reset`, `/status`, `/stop`, `/help` (also as
//! `/cmd@botname` in groups). Anything else starting with `/` is an ordinary message for the agent.

/// A recognised command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start a new session window (`/new`, `/reset`).
    New,
    Status,
    Stop,
    Help,
}

/// The command in a message, if it is one. `bot_username` lets `/status@ThatBot` match and `/status@OtherBot` not.
pub fn parse(text: &str, bot_username: Option<&str>) -> Option<Command> {
    let first = text.split_whitespace().next()?;
    let name = first.strip_prefix('/')?;
    let (name, target) = match name.split_once('@') {
        Some((name, target)) => (name, Some(target)),
        None => (name, None),
    };
    if let (Some(target), Some(bot)) = (target, bot_username)
        && !target.eq_ignore_ascii_case(bot)
    {
        return None;
    }
    match name.to_ascii_lowercase().as_str() {
        "new" | "reset" => Some(Command::New),
        "status" => Some(Command::Status),
        "stop" => Some(Command::Stop),
        "help" => Some(Command::Help),
        _ => None,
    }
}

/// The `/help` answer.
pub const HELP: &str = "Commands:\n/new or /reset: start a fresh conversation\n/status: what this conversation is using\n/stop: stop the answer being written\n/help: this list";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_with_and_without_the_bot_name() {
        assert_eq!(parse("/new", None), Some(Command::New));
        assert_eq!(parse("  /RESET please", None), Some(Command::New));
        assert_eq!(parse("/status@ClawBot", Some("clawbot")), Some(Command::Status));
        assert_eq!(parse("/status@OtherBot", Some("clawbot")), None);
        assert_eq!(parse("/stop", None), Some(Command::Stop));
        assert_eq!(parse("/help", None), Some(Command::Help));
        assert_eq!(parse("/weather Paris", None), None);
        assert_eq!(parse("what is /new?", None), None);
        assert_eq!(parse("", None), None);
    }
}
