//! Receipt output: a fixed-width slip for the receipt printer and the loyalty messages for
//! the cheque, rendered from an answer. Pure presentation: everything comes from the answer.

use crate::pb;

/// Printer widths the slip can be laid out for, in characters.
pub const SLIP_WIDTH_MIN: usize = 24;
pub const SLIP_WIDTH_MAX: usize = 80;

/// The rows of a slip, each exactly `width` characters — Unicode code points, as the
/// printer prints them. Figures are never cut: a label yields to its figure and shrinks
/// with a `~` marker; a text (a name) yields to its label; an identifier prints whole,
/// wrapped onto rows of its own when it does not fit beside its label.
struct Rows {
    width: usize,
    rows: Vec<String>,
}

/// `s` in at most `n` characters: cut, with `~` as its last, when longer.
fn shortened(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_owned();
    }
    if n == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('~');
    out
}

impl Rows {
    fn new(width: usize) -> Rows {
        Rows {
            width,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, left: &str, right: &str) {
        let pad = self
            .width
            .saturating_sub(left.chars().count() + right.chars().count());
        self.rows.push(format!("{left}{}{right}", " ".repeat(pad)));
    }

    fn rule(&mut self) {
        self.rows.push("-".repeat(self.width));
    }

    /// A label and a figure, right-aligned; the figure whole, the label shortened to fit.
    fn figure(&mut self, label: &str, figure: &str) {
        let n = figure.chars().count();
        if n >= self.width {
            return self.wrapped(figure);
        }
        let label = shortened(label, self.width - n - 1);
        self.push(&label, figure);
    }

    /// A label and a text after it; the text shortened to fit.
    fn text(&mut self, label: &str, text: &str) {
        let label = shortened(label, self.width);
        let room = self.width.saturating_sub(label.chars().count() + 1);
        if text.is_empty() || room == 0 {
            return self.push(&label, "");
        }
        self.push(&format!("{label} {}", shortened(text, room)), "");
    }

    /// A label and an identifier that must print whole: beside the label when it fits,
    /// else on rows of its own.
    fn id(&mut self, label: &str, id: &str) {
        if label.chars().count() + 1 + id.chars().count() <= self.width {
            return self.push(label, id);
        }
        self.push(&shortened(label, self.width), "");
        self.wrapped(id);
    }

    /// A text too long for one row, on as many rows as it takes.
    fn wrapped(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(self.width) {
            let piece: String = piece.iter().collect();
            self.push(&piece, "");
        }
    }
}

fn nonzero(amount: &str) -> bool {
    !amount.is_empty()
        && amount
            .trim_start_matches(['0', '.'])
            .chars()
            .any(|c| c != '0')
}

/// The slip: one row per line (with its quantity, price and discount), the totals, points
/// paid and accrued, the card and the balance, the purchase id, issued coupons; every row
/// exactly `width` characters (see `Rows`).
pub fn slip(reply: &pb::ChequeReply, width: usize) -> Vec<String> {
    let mut s = Rows::new(width);
    s.push("LOYALTY", "");
    s.rule();
    for l in &reply.lines {
        s.figure(&l.product, &l.amount);
        let each = format!("  {} x", l.quantity);
        if each.chars().count() + 1 + l.price.chars().count() <= width {
            s.push(&each, &l.price);
        } else {
            s.figure("  quantity", &l.quantity);
            s.figure("  price", &l.price);
        }
        if nonzero(&l.discount) {
            s.figure("  discount", &format!("-{}", l.discount));
        }
    }
    if let Some(t) = &reply.totals {
        s.rule();
        s.figure("Total", &t.amount);
        if nonzero(&t.discount) {
            s.figure("Discount", &format!("-{}", t.discount));
        }
        if nonzero(&t.paid) {
            s.figure("Paid with points", &format!("-{}", t.paid));
        }
        s.figure("To pay", &t.to_pay);
        if nonzero(&t.accrual) {
            s.figure("Points accrued", &t.accrual);
        }
        if nonzero(&t.potential_accrual) {
            // The enrolment prompt of a cheque without a card.
            s.figure("Earn with a card", &t.potential_accrual);
        }
    }
    if let Some(h) = &reply.holder {
        s.rule();
        s.id("Card", &h.masked_card);
        if !h.name.is_empty() {
            s.text("Holder", &h.name);
        }
    }
    if let Some(b) = &reply.balance {
        s.figure("Points balance", &b.balance);
        if nonzero(&b.pending) {
            s.figure("Points pending", &b.pending);
        }
        if nonzero(&b.debt) {
            s.figure("Points owed", &b.debt);
        }
        if nonzero(&b.next_expiry_points) && b.next_expiry.len() >= 10 {
            s.figure(
                &format!("Expire {}", &b.next_expiry[..10]),
                &b.next_expiry_points,
            );
        }
    }
    if !reply.purchase_id.is_empty() {
        // What a refund at any till names the purchase by.
        s.id("Purchase", &reply.purchase_id);
    }
    for c in &reply.coupons_issued {
        s.rule();
        s.text("Coupon", &c.name);
        s.wrapped(&c.code);
        s.id("Valid until", &c.expires[..10]);
    }
    s.rows
}

/// The EAN-13 digits of a 12-digit code: the code and its check digit.
pub fn ean13(code: &str) -> Option<String> {
    if code.len() != 12 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = code
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    Some(format!("{code}{}", (10 - sum % 10) % 10))
}

/// A QR code as rows of modules, '#' dark and ' ' light, with a quiet zone of 4.
pub fn qr_matrix(payload: &str) -> Vec<String> {
    let Ok(code) = qrcode::QrCode::new(payload.as_bytes()) else {
        return Vec::new();
    };
    let width = code.width();
    let colors = code.to_colors();
    let quiet = 4;
    let blank = " ".repeat(width + 2 * quiet);
    let mut rows = vec![blank.clone(); quiet];
    for r in colors.chunks(width) {
        let mut row = " ".repeat(quiet);
        row.extend(r.iter().map(|c| match c {
            qrcode::Color::Dark => '#',
            qrcode::Color::Light => ' ',
        }));
        row.push_str(&" ".repeat(quiet));
        rows.push(row);
    }
    rows.extend(std::iter::repeat_n(blank, quiet));
    rows
}

/// A coupon issued with a purchase, with what the till needs to print it.
pub fn coupon(c: &loyalty_core::outcome::IssuedCoupon) -> pb::IssuedCoupon {
    let code = c.code.to_string();
    let qr_payload = format!("coupon:{code}");
    pb::IssuedCoupon {
        series: c.series.0,
        name: c.name.clone(),
        expires: c.expires.format("%Y-%m-%dT%H:%M:%S").to_string(),
        code128: code.clone(),
        ean13: ean13(&code).unwrap_or_default(),
        qr_matrix: qr_matrix(&qr_payload),
        qr_payload,
        code,
    }
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
        match after_purchase(reply, b) {
            // A purchase still to be confirmed: its points are not posted yet.
            Some(after) => out.push(format!("Your points balance after this purchase: {after}")),
            None => out.push(format!("Your points balance: {}", b.balance)),
        }
    }
    out
}

/// For a purchase held or registered but not yet confirmed, the balance once it is: its
/// points paid off, its accrual on, less what of the accrual pays back debt.
fn after_purchase(reply: &pb::ChequeReply, b: &pb::Balance) -> Option<String> {
    use loyalty_core::amount::Points;
    let pending = [pb::PurchaseStatus::Held, pb::PurchaseStatus::Registered]
        .map(|s| s as i32)
        .contains(&reply.purchase_status);
    let t = reply.totals.as_ref().filter(|_| pending)?;
    let points = |s: &str| Points::parse(s).ok();
    let (balance, debt) = (points(&b.balance)?, points(&b.debt).unwrap_or(Points::ZERO));
    let (paid, accrual) = (points(&t.paid)?, points(&t.accrual)?);
    // A pending accrual is not spendable after the purchase.
    let accrual = if t.accrual_pending {
        Points::ZERO
    } else {
        accrual
    };
    Some(
        balance
            .minus(paid)
            .plus(accrual)
            .minus(debt.min(accrual))
            .to_string(),
    )
}

/// The cheque messages with a slip: the offers' own messages, then the summary.
pub fn with_summary(reply: &pb::ChequeReply) -> Vec<String> {
    let mut out = reply.cheque_messages.clone();
    out.extend(cheque_messages(reply));
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
                potential_accrual: "57.00".into(),
                accrual_pending: false,
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
                debt: "0.00".into(),
                pending: "0.00".into(),
                next_expiry: String::new(),
                next_expiry_points: String::new(),
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
            assert!(
                s.iter().any(|l| l.ends_with("57.00")),
                "the enrolment prompt"
            );
        }
        let s = slip(&reply(), 32);
        assert_eq!(s[2], "a-very-long-product-code~ 100.00");
        assert_eq!(s[3], "  2.000 x                  50.00");
        assert_eq!(s[4], "  discount                -10.00");
    }

    #[test]
    fn coupons_print_as_ean13_code128_and_a_qr_code_that_scans_back() {
        // EAN-13 check digit of 400638133393 is 1 (a published example).
        assert_eq!(ean13("400638133393").as_deref(), Some("4006381333931"));
        assert_eq!(ean13("SUMMER-10"), None);
        let issued = loyalty_core::outcome::IssuedCoupon {
            code: loyalty_core::ids::CouponCode::new("400638133393").unwrap(),
            series: loyalty_core::ids::CouponSeriesId(3),
            name: "10% off".into(),
            expires: chrono::NaiveDate::from_ymd_opt(2026, 12, 23)
                .unwrap()
                .and_hms_opt(12, 0, 0)
                .unwrap(),
        };
        let c = coupon(&issued);
        assert_eq!(c.code128, "400638133393");
        assert_eq!(c.qr_payload, "coupon:400638133393");
        // Square: 4n + 17 modules plus a quiet zone of 4 on each side, with the 7-module
        // finder patterns in the top corners and the bottom left one.
        let m = &c.qr_matrix;
        let n = m.len();
        assert!(n >= 29 && (n - 8 - 17).is_multiple_of(4), "{n}");
        assert!(m.iter().all(|r| r.chars().count() == n));
        assert!(m[..4].iter().all(|r| r.trim().is_empty()));
        assert_eq!(&m[4][4..11], "#######");
        assert_eq!(&m[4][n - 11..n - 4], "#######");
        assert_eq!(&m[n - 5][4..11], "#######");
        assert_eq!(&m[5][4..11], "#     #");
        // The payload read back by the coupon parser names the same code.
        assert_eq!(
            loyalty_core::checkout::coupon_codes(&c.qr_payload),
            std::slice::from_ref(&issued.code)
        );
        let mut r = reply();
        r.coupons_issued.push(c);
        let s = slip(&r, 32);
        assert!(s.iter().all(|l| l.chars().count() == 32));
        assert!(s.iter().any(|l| l.trim() == "400638133393"), "{s:#?}");
        assert!(s
            .iter()
            .any(|l| l.starts_with("Valid until") && l.ends_with("2026-12-23")));
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
        // A registered purchase tells the balance once it is confirmed: 100.00 with 4.50
        // earned.
        let registered = pb::ChequeReply {
            purchase_status: pb::PurchaseStatus::Registered.into(),
            balance: Some(pb::Balance {
                balance: "100.00".into(),
                debt: "0.00".into(),
                ..Default::default()
            }),
            ..reply()
        };
        assert_eq!(
            cheque_messages(&registered).last().unwrap(),
            "Your points balance after this purchase: 104.50"
        );
    }

    /// Every form a coupon is printed in, as a scanner reads it back.
    fn printed_forms(c: &pb::IssuedCoupon) -> Vec<String> {
        let mut forms = vec![c.code.clone(), c.code128.clone(), c.qr_payload.clone()];
        if !c.ean13.is_empty() {
            forms.push(c.ean13.clone());
            if let Some(upc) = c.ean13.strip_prefix('0') {
                forms.push(upc.to_owned());
            }
        }
        forms
    }

    proptest::proptest! {
        #[test]
        fn every_printed_form_of_a_coupon_identifies_it(
            code in proptest::prop_oneof!["[0-9]{12}", "[A-Z0-9][A-Z0-9-]{0,31}"]
        ) {
            let issued = loyalty_core::outcome::IssuedCoupon {
                code: loyalty_core::ids::CouponCode::new(&code).unwrap(),
                series: loyalty_core::ids::CouponSeriesId(1),
                name: "Coupon".into(),
                expires: chrono::NaiveDate::from_ymd_opt(2026, 12, 23)
                    .unwrap()
                    .and_hms_opt(0, 0, 0)
                    .unwrap(),
            };
            let c = coupon(&issued);
            for form in printed_forms(&c) {
                let candidates = loyalty_core::checkout::coupon_codes(&form);
                proptest::prop_assert!(
                    candidates.contains(&issued.code),
                    "{form} reads as {candidates:?}"
                );
                // A 12-digit code read as itself comes first: the code printed beats the
                // UPC-A reading of another.
                if form == c.code {
                    proptest::prop_assert_eq!(&candidates[0], &issued.code);
                }
            }
        }
    }

    /// Defects seen at the till: a long holder name overflowed the row, and at 24 columns
    /// numbers were cut.
    #[test]
    fn long_names_shrink_and_numbers_stay_whole() {
        let mut r = reply();
        r.holder.as_mut().unwrap().name = "N".repeat(55);
        r.lines[0].product = "milk".into();
        r.lines[0].quantity = "999.999".into();
        r.lines[0].price = "89.90".into();
        for width in [40, 24] {
            let s = slip(&r, width);
            assert!(s.iter().all(|l| l.chars().count() == width), "{s:#?}");
            let tokens: Vec<&str> = s.iter().flat_map(|l| l.split_whitespace()).collect();
            for figure in ["999.999", "89.90", "100.00", "-10.00", "104.50"] {
                assert!(tokens.contains(&figure), "{figure} at {width}: {s:#?}");
            }
            assert!(s.iter().any(|l| l.starts_with("Holder ")), "{s:#?}");
        }
    }

    proptest::proptest! {
        /// Any width, any cheque: every row has the width, and every figure of the answer
        /// is on the slip whole.
        #[test]
        fn every_row_has_the_width_and_every_figure_reads_back(
            width in SLIP_WIDTH_MIN..=SLIP_WIDTH_MAX,
            lines in proptest::collection::vec(("\\PC{1,60}", 1u64..=1_000_000_000, 1u64..=10_000_000_000_000, 0u64..=10_000_000_000_000), 1..5),
            name in "\\PC{0,80}",
            total in 0u64..=10_000_000_000_000,
            balance in 0u64..=10_000_000_000_000,
            purchase in "[0-9]{1,10}/[!-~]{1,64}",
        ) {
            let money = |minor: u64| format!("{}.{:02}", minor / 100, minor % 100);
            let qty = |milli: u64| format!("{}.{:03}", milli / 1000, milli % 1000);
            let mut r = reply();
            r.lines = lines
                .iter()
                .map(|(product, q, amount, discount)| pb::PricedLine {
                    product: product.clone(),
                    quantity: qty(*q),
                    price: money(*amount),
                    amount: money(*amount),
                    discount: money(*discount),
                    ..Default::default()
                })
                .collect();
            r.holder.as_mut().unwrap().name = name;
            r.totals.as_mut().unwrap().amount = money(total);
            r.balance.as_mut().unwrap().balance = money(balance);
            r.purchase_id = purchase.clone();
            let s = slip(&r, width);
            for row in &s {
                proptest::prop_assert_eq!(row.chars().count(), width, "{:#?}", s);
            }
            let tokens: Vec<&str> = s.iter().flat_map(|l| l.split_whitespace()).collect();
            let mut figures = vec![money(total), money(balance)];
            for l in &r.lines {
                figures.push(l.quantity.clone());
                figures.push(l.amount.clone());
                if nonzero(&l.discount) {
                    figures.push(format!("-{}", l.discount));
                }
            }
            for f in figures {
                proptest::prop_assert!(tokens.contains(&f.as_str()), "{} missing at {}: {:#?}", f, width, s);
            }
            // The purchase id prints whole, across rows if need be.
            let joined: String = s.iter().map(|l| l.trim_end()).collect();
            proptest::prop_assert!(joined.contains(&purchase) || s.iter().any(|l| l.contains(&purchase)), "{:#?}", s);
        }
    }
}
