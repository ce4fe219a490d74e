//! Receipt output: a fixed-width slip for the receipt printer and the loyalty messages for
//! the cheque, rendered from an answer. Pure presentation: everything comes from the answer.

use crate::pb;

/// Printer widths the slip can be laid out for, in characters.
pub const SLIP_WIDTH_MIN: usize = 24;
pub const SLIP_WIDTH_MAX: usize = 80;

/// `left` and `right` on one line of `width`, the left part cut to make room.
fn row(left: &str, right: &str, width: usize) -> String {
    let room = width.saturating_sub(right.chars().count() + 1);
    let left: String = left.chars().take(room).collect();
    let pad = width.saturating_sub(left.chars().count() + right.chars().count());
    format!("{left}{}{right}", " ".repeat(pad))
}

fn nonzero(amount: &str) -> bool {
    !amount.is_empty()
        && amount
            .trim_start_matches(['0', '.'])
            .chars()
            .any(|c| c != '0')
}

/// The slip: one row per line (with its discount), the totals, points paid and accrued,
/// the card and the balance; every row exactly `width` characters.
pub fn slip(reply: &pb::ChequeReply, width: usize) -> Vec<String> {
    let rule = "-".repeat(width);
    let mut out = vec![row("LOYALTY", "", width), rule.clone()];
    for l in &reply.lines {
        out.push(row(
            &format!("{} {} x {}", l.product, l.quantity, l.price),
            &l.amount,
            width,
        ));
        if nonzero(&l.discount) {
            out.push(row("  discount", &format!("-{}", l.discount), width));
        }
    }
    if let Some(t) = &reply.totals {
        out.push(rule.clone());
        out.push(row("Total", &t.amount, width));
        if nonzero(&t.discount) {
            out.push(row("Discount", &format!("-{}", t.discount), width));
        }
        if nonzero(&t.paid) {
            out.push(row("Paid with points", &format!("-{}", t.paid), width));
        }
        out.push(row("To pay", &t.to_pay, width));
        if nonzero(&t.accrual) {
            out.push(row("Points accrued", &t.accrual, width));
        }
    }
    if let Some(h) = &reply.holder {
        out.push(rule);
        out.push(row("Card", &h.masked_card, width));
        if !h.name.is_empty() {
            out.push(row("Holder", &h.name, width));
        }
    }
    if let Some(b) = &reply.balance {
        out.push(row("Points balance", &b.balance, width));
    }
    out
}

/// Messages for the cheque: what the customer saved, paid with points, earned, and has.
pub fn cheque_messages(reply: &pb::ChequeReply) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &reply.totals {
        if nonzero(&t.discount) {
            out.push(format!("You saved {}", t.discount));
        }
        if nonzero(&t.paid) {
            out.push(format!("Paid with points: {}", t.paid));
        }
        if nonzero(&t.accrual) {
            out.push(format!("Points for this purchase: {}", t.accrual));
        }
    }
    if let Some(b) = &reply.balance {
        out.push(format!("Your points balance: {}", b.balance));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> pb::ChequeReply {
        pb::ChequeReply {
            lines: vec![pb::PricedLine {
                product: "a-very-long-product-code-that-will-not-fit".into(),
                quantity: "2.000".into(),
                price: "50.00".into(),
                amount: "100.00".into(),
                discount: "10.00".into(),
                ..Default::default()
            }],
            totals: Some(pb::Totals {
                amount: "100.00".into(),
                discount: "10.00".into(),
                paid: "0.00".into(),
                accrual: "4.50".into(),
                redeem_max: "45.00".into(),
                to_pay: "90.00".into(),
            }),
            holder: Some(pb::Holder {
                masked_card: "*********0017".into(),
                name: "Anna".into(),
                ..Default::default()
            }),
            balance: Some(pb::Balance {
                balance: "104.50".into(),
                held: "0.00".into(),
                spendable: "104.50".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_row_has_the_printer_width() {
        for width in [SLIP_WIDTH_MIN, 32, 42, SLIP_WIDTH_MAX] {
            let s = slip(&reply(), width);
            assert!(s.iter().all(|l| l.chars().count() == width), "{s:#?}");
            assert!(s.iter().any(|l| l.ends_with("100.00")));
            assert!(s
                .iter()
                .any(|l| l.starts_with("To pay") && l.ends_with("90.00")));
            assert!(!s.iter().any(|l| l.starts_with("Paid with points")));
        }
        let s = slip(&reply(), 32);
        assert_eq!(s[2], "a-very-long-product-code- 100.00");
        assert_eq!(s[3], "  discount                -10.00");
    }

    #[test]
    fn messages_name_what_happened() {
        assert_eq!(
            cheque_messages(&reply()),
            [
                "You saved 10.00",
                "Points for this purchase: 4.50",
                "Your points balance: 104.50"
            ]
        );
        assert!(cheque_messages(&pb::ChequeReply::default()).is_empty());
    }
}
