//! Reports as HTML pages: the Markdown the commands write, rendered by pulldown-cmark
//! (CommonMark with tables), so a report opens in any browser. Raw HTML in the Markdown is
//! shown as text: report text carries names from user files (scenarios), which must not
//! become markup.

use pulldown_cmark::{Event, Options, Parser, html};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A complete page titled `title` holding `markdown` rendered.
pub fn page(title: &str, markdown: &str) -> String {
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        other => other,
    });
    let mut body = String::new();
    html::push_html(&mut body, events);
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
    fn headings_tables_lists_images_and_inline_marks() {
        let html = page(
            "r",
            "# Title\n\nText with `code` and **bold** <x>.\n\n### Third level\n\n- one\n- two\n\n\
             | a | b |\n|---|---|\n| 1 | **2** |\n| x \\| y | z |\n\n![map](eval/m.png)\n",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(
            html.contains(
                "<p>Text with <code>code</code> and <strong>bold</strong> &lt;x&gt;.</p>"
            ),
            "{html}"
        );
        assert!(html.contains("<h3>Third level</h3>"), "{html}");
        assert!(
            html.contains("<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
            "{html}"
        );
        assert!(html.contains("<th>a</th><th>b</th>"), "{html}");
        assert!(
            html.contains("<td>1</td><td><strong>2</strong></td>"),
            "{html}"
        );
        assert!(html.contains("<td>x | y</td><td>z</td>"), "{html}");
        assert!(!html.contains("---"));
        assert!(
            html.contains("<img src=\"eval/m.png\" alt=\"map\" />"),
            "{html}"
        );
    }

    #[test]
    fn markup_in_names_stays_text() {
        let html = page(
            "<b>",
            "| scenario |\n|---|\n| <script>alert(1)</script> |\n",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<title>&lt;b&gt;</title>"));
    }
}
