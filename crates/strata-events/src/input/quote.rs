//! Quoting an offending value in an error: its start only, so a reason
//! stays one short line. Shared by the row and timestamp parsers.

/// Longest piece of an offending value quoted in a bad-row reason.
const QUOTED_VALUE_CHARS: usize = 40;

/// The start of an offending value, so a reason stays one short line.
pub(crate) fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTED_VALUE_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(100);
        assert_eq!(shorten(&long).len(), QUOTED_VALUE_CHARS + 3);
        assert_eq!(shorten("short"), "short");
    }
}
