//! Values as cells of a file (CSV, TSV, XLSX): the guard that keeps a spreadsheet from running
//! a value as a formula, and several values (a multiple select, several links) in one cell.
//! Export writes with these and import reads with their inverses, so a file Rampart wrote
//! comes back as the same values.

use std::borrow::Cow;

/// What a spreadsheet takes as the start of a formula (OWASP's list: `=`, `+`, `-`, `@`, tab
/// and carriage return).
fn starts_formula(text: &str) -> bool {
    matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Whether a text cell must be written with a leading `'`: it would start a formula, also
/// after any apostrophes it already starts with (so that [`unguard`] is the exact inverse).
pub fn needs_guard(text: &str) -> bool {
    starts_formula(text.trim_start_matches('\''))
}

/// The cell a text value is written as: prefixed with `'` when a spreadsheet would run it.
pub fn guard(text: &str) -> Cow<'_, str> {
    if needs_guard(text) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text value a cell holds: [`guard`] undone.
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_guard(cell) => rest,
        _ => cell,
    }
}

/// Several values in one cell, separated by `, `; a value with a comma, a quote or spaces at
/// either end (or an empty one) is quoted, quotes doubled: `a, b, "c, d"`.
pub fn join_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let item = item.as_ref();
        if i > 0 {
            out.push_str(", ");
        }
        let plain = !item.is_empty()
            && !item.contains([',', '"'])
            && item.trim() == item
            && !item.starts_with('\'');
        if plain {
            out.push_str(item);
        } else {
            out.push('"');
            out.push_str(&item.replace('"', "\"\""));
            out.push('"');
        }
    }
    out
}

/// The values of a cell written by [`join_list`]; an empty cell holds none. Unquoted values
/// are trimmed, so `a,b` and `a, b` read the same.
pub fn split_list(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = cell.trim_start();
    if rest.is_empty() {
        return out;
    }
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if chars.peek().is_some_and(|(_, n)| *n == '"') {
                        chars.next();
                        value.push('"');
                    } else {
                        end = i + 1;
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            out.push(value);
            rest = quoted[end..].trim_start();
            match rest.strip_prefix(',') {
                Some(next) => rest = next.trim_start(),
                // Text after a closing quote belongs to no value; it is kept as one.
                None if !rest.is_empty() => {
                    out.push(rest.trim().to_owned());
                    return out;
                }
                None => return out,
            }
        } else {
            match rest.split_once(',') {
                Some((value, next)) => {
                    out.push(value.trim().to_owned());
                    rest = next.trim_start();
                }
                None => {
                    out.push(rest.trim().to_owned());
                    return out;
                }
            }
        }
        if rest.is_empty() {
            // A trailing comma: one more, empty, value.
            out.push(String::new());
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_guarded_and_the_guard_comes_off_again() {
        for (value, cell) in [
            ("=1+1", "'=1+1"),
            ("+31 20", "'+31 20"),
            ("-x", "'-x"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("plain", "plain"),
            ("'quoted", "'quoted"),
            ("", ""),
        ] {
            assert_eq!(guard(value), cell, "{value:?}");
            assert_eq!(unguard(cell), value, "{cell:?}");
        }
    }

    #[test]
    fn lists_quote_what_would_be_ambiguous() {
        let items = ["a", "b, c", "say \"hi\"", " padded ", ""];
        let cell = join_list(&items);
        assert_eq!(cell, r#"a, "b, c", "say ""hi""", " padded ", """#);
        assert_eq!(split_list(&cell), items);
        assert_eq!(split_list("x,y ,  z"), ["x", "y", "z"]);
        assert!(split_list("  ").is_empty());
    }

    proptest! {
        #[test]
        fn unguard_inverts_guard(s in "['=+@ \\t\\r-]{0,3}.{0,8}") {
            let cell = guard(&s);
            prop_assert_eq!(unguard(&cell), s.as_str());
        }

        #[test]
        fn split_inverts_join(items in prop::collection::vec("[a-z ,\"']{0,6}", 1..5)) {
            prop_assert_eq!(split_list(&join_list(&items)), items);
        }
    }
}
