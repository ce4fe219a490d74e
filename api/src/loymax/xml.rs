//! The protocol's documents: a bounded pull parser into a plain element tree. No DTD (a
//! document declaring one is refused, so no entity is ever expanded), at most
//! [`DEPTH_MAX`] levels, [`ELEMENTS_MAX`] elements and [`XML_BYTES_MAX`] bytes.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The largest document accepted.
pub const XML_BYTES_MAX: usize = 256 * 1024;
/// The deepest nesting accepted (a cheque line sits at depth 5).
pub const DEPTH_MAX: usize = 8;
/// The most elements in one document.
pub const ELEMENTS_MAX: usize = 20_000;

/// The document's `ErrorCode`: what went wrong with the document as a whole (its requests
/// were then not looked at). Provisional numbers (`docs/loymax.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentError {
    Malformed = 1,
    Unauthorized = 2,
    UnsupportedOperation = 3,
    TooLarge = 4,
    UnsupportedVersion = 5,
}

/// One element of the document: its name, attributes and children (text is not used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    /// The attribute's value (`#text`: the element's text), or empty.
    pub fn attr(&self, name: &str) -> &str {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first child of this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Parses a document within the limits; the root element, or why not.
pub fn parse(xml: &[u8]) -> Result<Element, DocumentError> {
    if xml.len() > XML_BYTES_MAX {
        return Err(DocumentError::TooLarge);
    }
    let text = std::str::from_utf8(xml).map_err(|_| DocumentError::Malformed)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| DocumentError::Malformed)?;
        let open = |e: &BytesStart, elements: &mut usize| -> Result<Element, DocumentError> {
            *elements += 1;
            if *elements > ELEMENTS_MAX {
                return Err(DocumentError::TooLarge);
            }
            element(e)
        };
        match event {
            Event::Start(e) => {
                if root.is_some() || stack.len() >= DEPTH_MAX {
                    return Err(DocumentError::Malformed);
                }
                stack.push(open(&e, &mut elements)?);
            }
            Event::Empty(e) => {
                let el = open(&e, &mut elements)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(DocumentError::Malformed),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(DocumentError::Malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            // Element text (a `Version`) is kept as the pseudo-attribute `#text`; a reference
            // in it must be a character or one of XML's five predefined entities.
            Event::Text(t) => {
                let s = t.decode().map_err(|_| DocumentError::Malformed)?;
                push_text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match r.decode().map_err(|_| DocumentError::Malformed)?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(DocumentError::Malformed),
                    },
                    Err(_) => return Err(DocumentError::Malformed),
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]))?;
            }
            // No DTD, so no entity of the document's own is ever expanded.
            Event::DocType(_) | Event::CData(_) => return Err(DocumentError::Malformed),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(DocumentError::Malformed);
    }
    root.ok_or(DocumentError::Malformed)
}

/// Appends text to the open element's `#text`; text outside any element is malformed.
fn push_text(stack: &mut [Element], s: &str) -> Result<(), DocumentError> {
    let el = stack.last_mut().ok_or(DocumentError::Malformed)?;
    match el.attributes.iter_mut().find(|(k, _)| k == "#text") {
        Some((_, text)) => text.push_str(s),
        None => el.attributes.push(("#text".into(), s.to_owned())),
    }
    Ok(())
}

fn element(e: &BytesStart) -> Result<Element, DocumentError> {
    let name = std::str::from_utf8(e.name().as_ref())
        .map_err(|_| DocumentError::Malformed)?
        .to_owned();
    let mut attributes = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| DocumentError::Malformed)?;
        let key = std::str::from_utf8(a.key.as_ref())
            .map_err(|_| DocumentError::Malformed)?
            .to_owned();
        let value = a
            .unescape_value()
            .map_err(|_| DocumentError::Malformed)?
            .into_owned();
        attributes.push((key, value));
        if attributes.len() > 32 {
            return Err(DocumentError::Malformed);
        }
    }
    Ok(Element {
        name,
        attributes,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BALANCE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID=\"0123456789abcdef0123456789abcdef\" ElementID=\"1\"><Identifier Type=\"Auto\" Value=\"2770000000017\"/></BalanceRequest></Balances></XMLRequest>";

    proptest! {
        /// Hostile documents: arbitrary bytes never panic the parser, and every truncation
        /// of a valid document is refused whole.
        #[test]
        fn arbitrary_and_truncated_documents_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            cut in 0usize..BALANCE.len(),
        ) {
            let _ = parse(&bytes);
            prop_assert!(parse(&BALANCE.as_bytes()[..cut]).is_err());
        }
    }

    #[test]
    fn documents_parse_within_the_limits_and_nothing_else_does() {
        let doc = parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<XMLRequest><Version>3.2</Version><Balances><BalanceRequest OperationID=\"a&amp;b\" ElementID=\"1\"><Identifier Type=\"Auto\" Value=\"2770000000017\"/></BalanceRequest></Balances></XMLRequest>"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(doc.name, "XMLRequest");
        assert_eq!(doc.child("Version").unwrap().attr("#text"), "3.2");
        let r = &doc.child("Balances").unwrap().children[0];
        assert_eq!(r.attr("OperationID"), "a&b");
        assert_eq!(
            r.child("Identifier").unwrap().attr("Value"),
            "2770000000017"
        );
        let refused = [
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><XMLRequest>&e;</XMLRequest>",
            "<XMLRequest><Version>3.2</Version>",
            "<XMLRequest></Other>",
            "<a/><b/>",
            "<XMLRequest>&unknown;</XMLRequest>",
            "",
        ];
        for text in refused {
            assert_eq!(
                parse(text.as_bytes()),
                Err(DocumentError::Malformed),
                "{text}"
            );
        }
        let deep = "<a>".repeat(DEPTH_MAX + 1) + &"</a>".repeat(DEPTH_MAX + 1);
        assert_eq!(parse(deep.as_bytes()), Err(DocumentError::Malformed));
        let wide = format!("<a>{}</a>", "<b/>".repeat(ELEMENTS_MAX + 1));
        assert_eq!(parse(wide.as_bytes()), Err(DocumentError::TooLarge));
        let big = vec![b' '; XML_BYTES_MAX + 1];
        assert_eq!(parse(&big), Err(DocumentError::TooLarge));
    }
}
