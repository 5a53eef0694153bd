//! Markdown tables: a header row and rows of cells already formatted.

/// A Markdown table of `header` and `rows` (each a row's cells), ending with a newline.
pub fn markdown_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for row in rows {
        t.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    t
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_has_its_header_rule_and_rows() {
        let t = super::markdown_table(&["a", "b"], [vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    }
}
