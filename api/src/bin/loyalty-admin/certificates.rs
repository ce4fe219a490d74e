//! Gift certificates: issued by an administrator, looked up, and shown the same way in the
//! till's answers.

use crate::admin::{show, Admin};
use loyalty_proto::pb;

pub async fn issue_certificate(
    a: &mut Admin,
    code: String,
    amount: String,
    days: u32,
) -> anyhow::Result<()> {
    let r = a.req(pb::IssueCertificateRequest {
        operation_id: uuid::Uuid::new_v4().to_string(),
        code,
        amount,
        valid_days: days,
    })?;
    let reply = a.client.issue_certificate(r).await?.into_inner();
    let shown = reply.certificate.clone();
    show(reply)?;
    shown.iter().for_each(print_certificate);
    Ok(())
}

pub async fn certificate(a: &mut Admin, code: String) -> anyhow::Result<()> {
    let r = a.req(pb::CertificateStatusRequest { code })?;
    let reply = a.client.certificate(r).await?.into_inner();
    let shown = reply.certificate.clone();
    show(reply)?;
    shown.iter().for_each(print_certificate);
    Ok(())
}

/// One line: the code, what is left of its amount, what is held, until when.
pub fn print_certificate(c: &pb::Certificate) {
    let until = chrono::DateTime::from_timestamp_millis(c.expires_at_unix_ms)
        .map_or_else(|| c.expires_at_unix_ms.to_string(), |t| t.to_rfc3339());
    let sold = match c.sold_at {
        0 => String::new(),
        till => format!(", sold at cashbox {till}"),
    };
    println!(
        "certificate {}: {} of {} left, {} held, {} payable, valid until {until}{sold}",
        c.code, c.balance, c.amount, c.held, c.spendable
    );
}
