//! A small Markdown-to-HTML rendering for the reports the commands write (headings,
//! paragraphs, tables, images, `code` and **bold**), so a report opens in any browser.

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline markup: `code`, **bold**, and images `![alt](src)`.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("![") {
        let (before, after) = rest.split_at(start);
        let Some(mid) = after.find("](") else { break };
        let Some(end) = after[mid..].find(')') else {
            break;
        };
        out.push_str(&spans(before));
        let (alt, src) = (&after[2..mid], &after[mid + 2..mid + end]);
        out.push_str(&format!(
            "<img alt=\"{}\" src=\"{}\">",
            escape(alt),
            escape(src)
        ));
        rest = &after[mid + end + 1..];
    }
    out.push_str(&spans(rest));
    out
}

fn spans(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("<code>{part}</code>"));
        } else {
            for (j, piece) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    out.push_str(&format!("<b>{piece}</b>"));
                } else {
                    out.push_str(piece);
                }
            }
        }
    }
    out
}

/// The HTML page of a Markdown report titled `title`.
pub fn page(title: &str, markdown: &str) -> String {
    let mut body = String::new();
    let mut table: Vec<&str> = Vec::new();
    let flush = |table: &mut Vec<&str>, body: &mut String| {
        if table.is_empty() {
            return;
        }
        body.push_str("<table>\n");
        for (i, row) in table.iter().enumerate() {
            if i == 1 && row.contains("---") {
                continue;
            }
            let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
            let tag = if i == 0 { "th" } else { "td" };
            body.push_str("<tr>");
            for c in cells {
                body.push_str(&format!("<{tag}>{}</{tag}>", inline(c.trim())));
            }
            body.push_str("</tr>\n");
        }
        body.push_str("</table>\n");
        table.clear();
    };
    for line in markdown.lines() {
        if line.trim_start().starts_with('|') {
            table.push(line);
            continue;
        }
        flush(&mut table, &mut body);
        let line = line.trim();
        if let Some(h) = line.strip_prefix("## ") {
            body.push_str(&format!("<h2>{}</h2>\n", inline(h)));
        } else if let Some(h) = line.strip_prefix("# ") {
            body.push_str(&format!("<h1>{}</h1>\n", inline(h)));
        } else if !line.is_empty() {
            body.push_str(&format!("<p>{}</p>\n", inline(line)));
        }
    }
    flush(&mut table, &mut body);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;}}\
         table{{border-collapse:collapse;margin:1em 0;}}td,th{{border:1px solid #ccc;padding:3px 8px;}}\
         img{{max-width:100%;image-rendering:pixelated;}}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_tables_images_and_inline_marks() {
        let html = page(
            "r",
            "# Title\n\nText with `code` and **bold** <x>.\n\n| a | b |\n|---|---|\n| 1 | **2** |\n\n![map](eval/m.png)\n",
        );
        assert!(html.contains("<h1>Title</h1>"));
        assert!(html.contains("<p>Text with <code>code</code> and <b>bold</b> &lt;x&gt;.</p>"));
        assert!(html.contains("<tr><th>a</th><th>b</th></tr>"));
        assert!(html.contains("<tr><td>1</td><td><b>2</b></td></tr>"));
        assert!(!html.contains("---"));
        assert!(html.contains("<img alt=\"map\" src=\"eval/m.png\">"));
    }
}
