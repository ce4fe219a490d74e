//! File imports of cheques and payment-registry rows (the translator connection scheme):
//! parsed into offline upload items and sent through the same idempotent path as a till's
//! offline queue. Operation ids come from the file or, when a row has none, are derived
//! from the cheque number, so importing a file twice changes nothing.
//!
//! Formats:
//! - JSON lines, one item per line: a cheque
//!   `{"operation_id", "cheque_id", "card", "local_time", "cashier", "lines": [{"product", "quantity", "price"}], "points_paid", "discount"}`
//!   or a refund `{"operation_id", "refund_cheque_id", "purchase_cheque_id", "lines": [{"line_index", "quantity"}]}`;
//! - CSV with the header `operation_id,cheque_id,card,local_time,product,quantity,price,points_paid,discount`,
//!   one row per cheque line; consecutive rows of one cheque form one item.

use crate::pb;
use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct ImportError {
    pub location: String,
    pub reason: String,
}

fn err(location: impl Into<String>, reason: impl ToString) -> ImportError {
    ImportError {
        location: location.into(),
        reason: reason.to_string(),
    }
}

/// A stable operation id for a row without one.
pub fn derived_op(kind: &str, id: &str) -> String {
    let h: [u8; 32] = Sha256::digest(format!("import:{kind}:{id}").as_bytes()).into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Uuid::from_bytes(b).to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    #[serde(default)]
    product: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    line_index: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonItem {
    #[serde(default)]
    operation_id: String,
    #[serde(default)]
    cheque_id: String,
    #[serde(default)]
    card: String,
    #[serde(default)]
    local_time: String,
    #[serde(default)]
    cashier: String,
    #[serde(default)]
    points_paid: String,
    #[serde(default)]
    discount: String,
    #[serde(default)]
    refund_cheque_id: String,
    #[serde(default)]
    purchase_cheque_id: String,
    lines: Vec<JsonLine>,
}

pub fn parse_jsonl(text: &str) -> Result<Vec<pb::OfflineItem>, ImportError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", n + 1);
        let j: JsonItem = serde_json::from_str(line).map_err(|e| err(&at, e))?;
        let item = if !j.refund_cheque_id.is_empty() {
            let lines = j
                .lines
                .into_iter()
                .map(|l| {
                    Ok(pb::RefundLine {
                        line_index: l
                            .line_index
                            .ok_or_else(|| err(&at, "refund line without line_index"))?,
                        quantity: l.quantity,
                    })
                })
                .collect::<Result<_, ImportError>>()?;
            let op = if j.operation_id.is_empty() {
                derived_op("refund", &j.refund_cheque_id)
            } else {
                j.operation_id
            };
            pb::OfflineItem {
                operation_id: op,
                item: Some(pb::offline_item::Item::Refund(pb::RefundRequest {
                    operation_id: String::new(),
                    refund_cheque_id: j.refund_cheque_id,
                    purchase_cheque_id: j.purchase_cheque_id,
                    lines,
                    purchase_id: String::new(),
                    sale_cashbox_id: 0,
                    without_receipt: None,
                })),
            }
        } else {
            if j.cheque_id.is_empty() {
                return Err(err(&at, "neither cheque_id nor refund_cheque_id"));
            }
            let lines = j
                .lines
                .into_iter()
                .map(|l| pb::Line {
                    product: l.product,
                    quantity: l.quantity,
                    price: l.price,
                    ..Default::default()
                })
                .collect();
            let op = if j.operation_id.is_empty() {
                derived_op("cheque", &j.cheque_id)
            } else {
                j.operation_id
            };
            let cheque = pb::Cheque {
                coupons: Vec::new(),
                order: String::new(),
                cheque_id: j.cheque_id,
                card: j.card,
                local_time: j.local_time,
                lines,
                cashier: j.cashier,
                identifiers: Vec::new(),
                pin: String::new(),
                tenders: Vec::new(),
            };
            pb::OfflineItem {
                operation_id: op,
                item: Some(pb::offline_item::Item::Purchase(pb::OfflinePurchase {
                    cheque: Some(cheque),
                    points_paid: j.points_paid,
                    discount: j.discount,
                })),
            }
        };
        out.push(item);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct CsvRow {
    #[serde(default)]
    operation_id: String,
    cheque_id: String,
    #[serde(default)]
    card: String,
    local_time: String,
    product: String,
    quantity: String,
    price: String,
    #[serde(default)]
    points_paid: String,
    #[serde(default)]
    discount: String,
}

pub fn parse_csv(text: &str) -> Result<Vec<pb::OfflineItem>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out: Vec<pb::OfflineItem> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (n, row) in reader.deserialize::<CsvRow>().enumerate() {
        let at = format!("row {}", n + 2);
        let r = row.map_err(|e| err(&at, e))?;
        let same = current.as_ref().is_some_and(|(op, ch)| {
            *ch == r.cheque_id && (r.operation_id.is_empty() || *op == r.operation_id)
        });
        let line = pb::Line {
            product: r.product,
            quantity: r.quantity,
            price: r.price,
            ..Default::default()
        };
        if same {
            if let Some(pb::OfflineItem {
                item: Some(pb::offline_item::Item::Purchase(p)),
                ..
            }) = out.last_mut()
            {
                if let Some(c) = p.cheque.as_mut() {
                    c.lines.push(line);
                }
            }
            continue;
        }
        let op = if r.operation_id.is_empty() {
            derived_op("cheque", &r.cheque_id)
        } else {
            r.operation_id
        };
        current = Some((op.clone(), r.cheque_id.clone()));
        let cheque = pb::Cheque {
            coupons: Vec::new(),
            order: String::new(),
            cheque_id: r.cheque_id,
            card: r.card,
            local_time: r.local_time,
            lines: vec![line],
            cashier: String::new(),
            identifiers: Vec::new(),
            pin: String::new(),
            tenders: Vec::new(),
        };
        out.push(pb::OfflineItem {
            operation_id: op,
            item: Some(pb::offline_item::Item::Purchase(pb::OfflinePurchase {
                cheque: Some(cheque),
                points_paid: r.points_paid,
                discount: r.discount,
            })),
        });
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub applied: u64,
    pub duplicates: u64,
    /// Refused items: (operation id, outcome name, message).
    pub refused: Vec<(String, String, String)>,
}

impl Summary {
    pub fn add(&mut self, results: &[pb::OfflineItemResult]) {
        for r in results {
            let Some(reply) = &r.reply else { continue };
            if reply.outcome != pb::Outcome::Ok as i32 {
                let name = pb::Outcome::try_from(reply.outcome)
                    .map(|o| o.as_str_name().to_owned())
                    .unwrap_or_default();
                self.refused
                    .push((r.operation_id.clone(), name, reply.message.clone()));
            } else if reply.replayed {
                self.duplicates += 1;
            } else {
                self.applied += 1;
            }
        }
    }
}

/// A catalogue file, validated row by row: the products to import, and the rows refused
/// (line number, reason) — a bad row never stops the good ones.
#[derive(Debug, Default)]
pub struct Catalogue {
    pub products: Vec<pb::Product>,
    pub rejected: Vec<(usize, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductRow {
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    barcodes: Vec<String>,
    #[serde(default)]
    min_price: String,
    #[serde(default)]
    promotional: bool,
}

impl Catalogue {
    /// Keeps a row that converts like an admin API request would; a code seen earlier in
    /// the file is refused (a file names each product once).
    fn row(&mut self, line: usize, p: pb::Product) {
        if self.products.iter().any(|q| q.code == p.code) {
            self.rejected
                .push((line, format!("product {} appears twice", p.code)));
            return;
        }
        match crate::convert::product(0, p.clone()) {
            Ok(_) => self.products.push(p),
            Err(e) => self.rejected.push((
                line,
                format!(
                    "{}: {}",
                    e.field.trim_start_matches("products[0]."),
                    e.reason
                ),
            )),
        }
    }

    /// JSON lines: `{"code","name","group","barcodes":[..],"min_price","promotional"}`.
    pub fn from_jsonl(text: &str) -> Catalogue {
        let mut c = Catalogue::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ProductRow>(line) {
                Ok(r) => c.row(
                    i + 1,
                    pb::Product {
                        code: r.code,
                        name: r.name,
                        group: r.group,
                        barcodes: r.barcodes,
                        min_price: r.min_price,
                        promotional: r.promotional,
                    },
                ),
                Err(e) => c.rejected.push((i + 1, e.to_string())),
            }
        }
        c
    }

    /// CSV with the header `code,name,group,barcodes,min_price,promotional`; barcodes are
    /// separated by `|`, promotional is `true`/`false` (empty: false).
    pub fn from_csv(text: &str) -> Catalogue {
        let mut c = Catalogue::default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let expected = [
            "code",
            "name",
            "group",
            "barcodes",
            "min_price",
            "promotional",
        ];
        match reader.headers() {
            Ok(h) if h.iter().eq(expected) => {}
            _ => {
                c.rejected
                    .push((1, format!("the header must be {}", expected.join(","))));
                return c;
            }
        }
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let r = match record {
                Ok(r) if r.len() == expected.len() => r,
                Ok(r) => {
                    c.rejected
                        .push((line, format!("{} fields, expected 6", r.len())));
                    continue;
                }
                Err(e) => {
                    c.rejected.push((line, e.to_string()));
                    continue;
                }
            };
            let promotional = match &r[5] {
                "" | "false" => false,
                "true" => true,
                other => {
                    c.rejected
                        .push((line, format!("promotional: {other:?} is not true or false")));
                    continue;
                }
            };
            c.row(
                line,
                pb::Product {
                    code: r[0].to_owned(),
                    name: r[1].to_owned(),
                    group: r[2].to_owned(),
                    barcodes: r[3]
                        .split('|')
                        .filter(|b| !b.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    min_price: r[4].to_owned(),
                    promotional,
                },
            );
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str =
        "operation_id,cheque_id,card,local_time,product,quantity,price,points_paid,discount\n";

    #[test]
    fn catalogue_rows_are_validated_one_by_one() {
        let csv = "code,name,group,barcodes,min_price,promotional\n\
                   milk,Milk,dairy,4600000000011|4600000000012,10.50,false\n\
                   bad code,X,,,,\n\
                   bread,Bread,,,1.001,\n\
                   wine,Wine,alcohol,,90,maybe\n\
                   milk,Again,,,,\n\
                   promo,Promo,dairy,,,true\n";
        let c = Catalogue::from_csv(csv);
        let codes: Vec<_> = c.products.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["milk", "promo"]);
        assert_eq!(c.products[0].barcodes.len(), 2);
        let lines: Vec<usize> = c.rejected.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 5, 6]);
        assert!(c.rejected[0].1.starts_with("code"), "{:?}", c.rejected);
        assert!(c.rejected[1].1.starts_with("min_price"), "{:?}", c.rejected);
        assert!(Catalogue::from_csv("a,b\n1,2\n").rejected[0]
            .1
            .contains("header"));
        let j = Catalogue::from_jsonl(
            "{\"code\":\"milk\",\"group\":\"dairy\",\"min_price\":\"1\"}\n\n{\"code\":\"\"}\n{oops\n",
        );
        assert_eq!(j.products.len(), 1);
        assert_eq!(
            j.rejected.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    proptest! {
        /// Catalogue files of any content are validated row by row without panicking.
        #[test]
        fn arbitrary_catalogue_files_never_panic(text in "\\PC{0,400}") {
            for t in [text.clone(), format!("code,name,group,barcodes,min_price,promotional\n{text}")] {
                let c = Catalogue::from_csv(&t);
                let j = Catalogue::from_jsonl(&t);
                for p in c.products.into_iter().chain(j.products) {
                    prop_assert!(crate::convert::product(0, p).is_ok());
                }
            }
        }

        /// Any file content parses or is refused naming a line; nothing panics, and every
        /// parsed item is then checked by the same conversion as a till's upload.
        #[test]
        fn arbitrary_files_never_panic(text in "\\PC{0,400}", bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            for t in [text.clone(), lossy, format!("{HEADER}{text}")] {
                for parsed in [parse_jsonl(&t), parse_csv(&t)] {
                    match parsed {
                        Ok(items) => {
                            for (i, item) in items.into_iter().enumerate() {
                                let _ = crate::convert::offline_item(i, item, 500);
                            }
                        }
                        Err(e) => prop_assert!(!e.location.is_empty()),
                    }
                }
            }
        }

        /// CSV rows with arbitrary field values.
        #[test]
        fn arbitrary_csv_fields_never_panic(fields in prop::collection::vec("[^\n\"]{0,12}", 9)) {
            let t = format!("{HEADER}{}\n", fields.join(","));
            if let Ok(items) = parse_csv(&t) {
                for (i, item) in items.into_iter().enumerate() {
                    let _ = crate::convert::offline_item(i, item, 500);
                }
            }
        }
    }

    #[test]
    fn csv_rows_of_one_cheque_form_one_item() {
        let text =
            "operation_id,cheque_id,card,local_time,product,quantity,price,points_paid,discount\n\
                    ,c1,100,2026-11-20T10:00:00,milk,1,50,,\n\
                    ,c1,100,2026-11-20T10:00:00,bread,2,20,,\n\
                    ,c2,,2026-11-20T11:00:00,bread,1,20,,\n";
        let items = parse_csv(text).unwrap();
        assert_eq!(items.len(), 2);
        let Some(pb::offline_item::Item::Purchase(p)) = &items[0].item else {
            panic!()
        };
        assert_eq!(p.cheque.as_ref().unwrap().lines.len(), 2);
        // Derived operation ids are stable: the same file imports to the same ids.
        assert_eq!(
            items[0].operation_id,
            parse_csv(text).unwrap()[0].operation_id
        );
        assert_ne!(items[0].operation_id, items[1].operation_id);
    }

    #[test]
    fn jsonl_reads_cheques_and_refunds_and_names_bad_lines() {
        let text = r#"{"cheque_id":"c1","card":"100","local_time":"2026-11-20T10:00:00","lines":[{"product":"milk","quantity":"1","price":"50"}]}
{"refund_cheque_id":"r1","purchase_cheque_id":"c1","lines":[{"line_index":0,"quantity":"1"}]}"#;
        let items = parse_jsonl(text).unwrap();
        assert!(matches!(
            items[1].item,
            Some(pb::offline_item::Item::Refund(_))
        ));
        let bad = parse_jsonl("{\"lines\":[]}\n{oops").unwrap_err();
        assert_eq!(bad.location, "line 1");
        assert_eq!(parse_jsonl("\n{oops").unwrap_err().location, "line 2");
    }
}
