//! The offers with limits: what each has given and may still give.

use crate::admin::Admin;
use loyalty_proto::pb;

/// A line per limited offer.
pub async fn list_budgets(a: &mut Admin) -> anyhow::Result<()> {
    let r = a.req(pb::OfferBudgetsRequest {})?;
    for o in a.client.offer_budgets(r).await?.into_inner().offers {
        let name = match o.name.as_str() {
            "" => String::new(),
            n => format!(" {n:?}"),
        };
        let mut line = format!("offer {}{name}: given {}", o.offer, o.given);
        if !o.total.is_empty() {
            line += &format!(" of {} ({} left)", o.total, o.remaining);
        }
        if !o.per_customer_day.is_empty() {
            line += &format!(", at most {} a customer a day", o.per_customer_day);
        }
        if o.uses_per_customer > 0 {
            line += &format!(", {} cheques a customer", o.uses_per_customer);
        }
        println!("{line}");
    }
    Ok(())
}
