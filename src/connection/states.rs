//! The state machine of both roles as data: what each side may send and accept in each state,
//! and the transitions. The connections consult these tables (nothing else decides), and
//! `states.md`, the page the crate docs show, is checked against them by a test below.

use crate::frame::Command;

/// Which end of the connection. (`pub` only because the sealed `Hooks` trait names it; the
/// module is private.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client role.
    Client,
    /// The server role.
    Server,
}

/// The state of a connection; see `states.md` for what each means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Idle,
    Connecting,
    Connected,
    Disconnecting,
    Closing,
    Closed,
}

/// What moves a connection from one state to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    ConnectSent,
    ConnectReceived,
    ConnectedSent,
    ConnectedReceived,
    DisconnectSent,
    DisconnectReceived,
    FinalReceipt,
    ErrorSent,
    Flushed,
    End,
}

use State::*;

const CLIENT_FRAMES: &[&str] = &[
    "SEND",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "ACK",
    "NACK",
    "BEGIN",
    "COMMIT",
    "ABORT",
    "DISCONNECT",
];

/// One row per side and state: the commands the side may send, and those it accepts.
#[allow(clippy::type_complexity)]
const FRAMES: &[(Side, State, &[&str], &[&str])] = &[
    (Side::Client, Idle, &["CONNECT", "STOMP"], &[]),
    (Side::Client, Connecting, &[], &["CONNECTED", "ERROR"]),
    (
        Side::Client,
        Connected,
        CLIENT_FRAMES,
        &["MESSAGE", "RECEIPT", "ERROR"],
    ),
    (
        Side::Client,
        Disconnecting,
        &[],
        &["MESSAGE", "RECEIPT", "ERROR"],
    ),
    (Side::Client, Closed, &[], &[]),
    (Side::Server, Idle, &[], &["CONNECT", "STOMP"]),
    (Side::Server, Connecting, &["CONNECTED", "ERROR"], &[]),
    (
        Side::Server,
        Connected,
        &["MESSAGE", "RECEIPT", "ERROR"],
        CLIENT_FRAMES,
    ),
    (Side::Server, Disconnecting, &["RECEIPT", "ERROR"], &[]),
    (Side::Server, Closing, &[], &[]),
    (Side::Server, Closed, &[], &[]),
];

const OPEN: &[State] = &[Idle, Connecting, Connected, Disconnecting];

/// The transitions: from any of these states, on this trigger, to that state.
const TRANSITIONS: &[(Side, &[State], Trigger, State)] = &[
    (Side::Client, &[Idle], Trigger::ConnectSent, Connecting),
    (
        Side::Client,
        &[Connecting],
        Trigger::ConnectedReceived,
        Connected,
    ),
    (
        Side::Client,
        &[Connected],
        Trigger::DisconnectSent,
        Disconnecting,
    ),
    (
        Side::Client,
        &[Disconnecting],
        Trigger::FinalReceipt,
        Closed,
    ),
    (Side::Client, &[Disconnecting], Trigger::Flushed, Closed),
    (Side::Client, OPEN, Trigger::End, Closed),
    (Side::Server, &[Idle], Trigger::ConnectReceived, Connecting),
    (
        Side::Server,
        &[Connecting],
        Trigger::ConnectedSent,
        Connected,
    ),
    (
        Side::Server,
        &[Connected],
        Trigger::DisconnectReceived,
        Disconnecting,
    ),
    (
        Side::Server,
        &[Disconnecting],
        Trigger::FinalReceipt,
        Closing,
    ),
    (Side::Server, OPEN, Trigger::ErrorSent, Closing),
    (Side::Server, &[Closing], Trigger::Flushed, Closed),
    (
        Side::Server,
        &[Idle, Connecting, Connected, Disconnecting, Closing],
        Trigger::End,
        Closed,
    ),
];

/// The spellings of the standard commands; bit `i` of a [`Mask`] stands for `WORDS[i]`.
const WORDS: [&str; 15] = [
    "CONNECT",
    "STOMP",
    "CONNECTED",
    "SEND",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "ACK",
    "NACK",
    "BEGIN",
    "COMMIT",
    "ABORT",
    "DISCONNECT",
    "MESSAGE",
    "RECEIPT",
    "ERROR",
];

/// The bit of a command spelling in a [`Mask`]; extension commands have none.
const fn bit(command: &[u8]) -> u16 {
    let mut i = 0;
    while i < WORDS.len() {
        let word = WORDS[i].as_bytes();
        if word.len() == command.len() {
            let mut j = 0;
            while j < word.len() && word[j] == command[j] {
                j += 1;
            }
            if j == word.len() {
                return 1 << i;
            }
        }
        i += 1;
    }
    0
}

/// The commands of one cell of [`FRAMES`] as a set of bits (by index in `Command::STANDARD`).
type Mask = u16;

const fn mask(commands: &[&str]) -> Mask {
    let mut m = 0;
    let mut i = 0;
    while i < commands.len() {
        m |= bit(commands[i].as_bytes());
        i += 1;
    }
    m
}

const SIDES: usize = 2;
const STATES: usize = 6;

/// [`FRAMES`] as bit sets, built at compile time: `[side][state]` gives (may send, accepts).
const MASKS: [[(Mask, Mask); STATES]; SIDES] = {
    let mut masks = [[(0, 0); STATES]; SIDES];
    let mut i = 0;
    while i < FRAMES.len() {
        let (side, state, sends, accepts) = FRAMES[i];
        masks[side as usize][state as usize] = (mask(sends), mask(accepts));
        i += 1;
    }
    masks
};

/// The bit of `command` in a [`Mask`] (none for an extension command).
#[inline]
fn command_bit(command: &Command) -> Mask {
    let i = match command {
        Command::Connect => 0,
        Command::Stomp => 1,
        Command::Connected => 2,
        Command::Send => 3,
        Command::Subscribe => 4,
        Command::Unsubscribe => 5,
        Command::Ack => 6,
        Command::Nack => 7,
        Command::Begin => 8,
        Command::Commit => 9,
        Command::Abort => 10,
        Command::Disconnect => 11,
        Command::Message => 12,
        Command::Receipt => 13,
        Command::Error => 14,
        Command::Extension(_) => return 0,
    };
    1 << i
}

/// Whether `side` may send `command` in `state`.
#[inline]
pub(crate) fn may_send(side: Side, state: State, command: &Command) -> bool {
    MASKS[side as usize][state as usize].0 & command_bit(command) != 0
}

/// Whether `side` accepts `command` from its peer in `state`.
#[inline]
pub(crate) fn accepts(side: Side, state: State, command: &Command) -> bool {
    MASKS[side as usize][state as usize].1 & command_bit(command) != 0
}

/// The state `side` moves to from `state` on `trigger`, if the table has that transition.
pub(crate) fn next(side: Side, state: State, trigger: Trigger) -> Option<State> {
    TRANSITIONS
        .iter()
        .find(|t| t.0 == side && t.1.contains(&state) && t.2 == trigger)
        .map(|t| t.3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    const PAGE: &str = include_str!("states.md");

    fn side_name(side: Side) -> &'static str {
        match side {
            Side::Client => "client",
            Side::Server => "server",
        }
    }

    fn list(items: impl IntoIterator<Item = String>) -> String {
        let items: Vec<String> = items.into_iter().collect();
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(", ")
        }
    }

    /// The rows of the page's table whose header starts with `first_columns`, cells trimmed.
    fn table(first_columns: &str) -> Vec<Vec<String>> {
        let mut lines = PAGE.lines().skip_while(|l| !l.starts_with(first_columns));
        lines.next().expect("the table's header row");
        lines
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_documented_frame_table_is_the_codes() {
        let documented = table("| side   | state         | may send");
        let code: Vec<Vec<String>> = FRAMES
            .iter()
            .map(|(side, state, sends, accepts)| {
                alloc::vec![
                    side_name(*side).to_string(),
                    format!("{state:?}"),
                    list(sends.iter().map(|c| c.to_string())),
                    list(accepts.iter().map(|c| c.to_string())),
                ]
            })
            .collect();
        assert_eq!(documented, code);
    }

    #[test]
    fn the_documented_transitions_are_the_codes() {
        let documented = table("| side   | from");
        let code: Vec<Vec<String>> = TRANSITIONS
            .iter()
            .map(|(side, from, trigger, to)| {
                alloc::vec![
                    side_name(*side).to_string(),
                    list(from.iter().map(|s| format!("{s:?}"))),
                    format!("{trigger:?}"),
                    format!("{to:?}"),
                ]
            })
            .collect();
        assert_eq!(documented, code);
    }

    #[test]
    fn every_transition_is_unambiguous() {
        // A state and trigger must lead to one place, or `next` would depend on row order.
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                let overlap = a.1.iter().any(|s| b.1.contains(s));
                assert!(!(a.0 == b.0 && a.2 == b.2 && overlap), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn every_standard_command_has_its_own_bit() {
        for (i, command) in Command::STANDARD.iter().enumerate() {
            assert_eq!(command_bit(command), 1 << i, "{command:?}");
            assert_eq!(bit(command.as_bytes()), 1 << i, "{command:?}");
        }
        assert_eq!(command_bit(&Command::extension("FOO").unwrap()), 0);
    }

    #[test]
    fn the_masks_are_the_frame_table() {
        let sides = [Side::Client, Side::Server];
        let states = [Idle, Connecting, Connected, Disconnecting, Closing, Closed];
        let mut commands: Vec<Command> = Command::STANDARD.to_vec();
        commands.push(Command::extension("FOO").unwrap());
        for side in sides {
            for state in states {
                let row = FRAMES.iter().find(|r| r.0 == side && r.1 == state);
                for command in &commands {
                    let listed =
                        |cells: &[&str]| cells.iter().any(|c| c.as_bytes() == command.as_bytes());
                    assert_eq!(
                        may_send(side, state, command),
                        row.is_some_and(|r| listed(r.2)),
                        "{side:?} {state:?} sends {command:?}"
                    );
                    assert_eq!(
                        accepts(side, state, command),
                        row.is_some_and(|r| listed(r.3)),
                        "{side:?} {state:?} accepts {command:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn nothing_leaves_closed() {
        for side in [Side::Client, Side::Server] {
            for t in TRANSITIONS.iter().filter(|t| t.0 == side) {
                assert_eq!(next(side, Closed, t.2), None, "{t:?}");
            }
        }
    }
}
