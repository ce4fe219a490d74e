//! Gift certificates: issued by an administrator, looked up, and shown the same way in the
//! till's answers.

use crate::admin::{show, Admin};
use loyalty_proto::pb;

/// A gift certificate to issue (or sell at a till): its code (upper-case letters, digits,
/// dashes), amount and the days it pays for.
#[derive(clap::Args)]
pub struct NewCertificate {
    #[arg(long)]
    code: String,
    #[arg(long)]
    amount: String,
    #[arg(long)]
    days: u32,
}

impl NewCertificate {
    /// The request that issues it, as a new operation.
    pub fn request(self) -> pb::IssueCertificateRequest {
        pb::IssueCertificateRequest {
            operation_id: uuid::Uuid::new_v4().to_string(),
            code: self.code,
            amount: self.amount,
            valid_days: self.days,
        }
    }
}

pub async fn issue_certificate(a: &mut Admin, c: NewCertificate) -> anyhow::Result<()> {
    let r = a.req(c.request())?;
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
