//! Runs the deterministic simulator: one seed, or many in a row.

use clap::Parser;
use loyalty_core::amount::Points;
use loyalty_sim::{run, SimConfig};

#[derive(Parser)]
#[command(about = "Deterministic simulation of the loyalty engine against an independent auditor")]
struct Args {
    /// First seed (random when omitted; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// How many seeds to run, from --seed upwards.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Batches per seed.
    #[arg(long, default_value_t = 2_000)]
    batches: u32,
    /// Run against three replicas with consensus, on a network that loses and reorders
    /// messages, with replicas crashing and leaders cut off.
    #[arg(long)]
    cluster: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let first = args.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.as_nanos() as u64 % 1_000_000_007
    });
    let mut totals = (0u64, 0u64, 0u64);
    for seed in first..first + args.seeds {
        let config = SimConfig::new(seed, args.batches);
        let report = run(if args.cluster {
            config.cluster()
        } else {
            config
        })?;
        println!(
            "seed {seed}: {} requests, {} events, {} batches, {} crashes, {} lost answers, {} resends, {} duplicates, {} broken streams ({} requests cut off), {} refused, {} cards replaced ({} refusals of replaced cards), {} orders ({} picked up, {} cancelled, {} expired), {} coupon uses ({} kept), {} refunds at another till, {} returns without the receipt, {} late confirms, {} points became debt ({} still owed), {} points matured, {} burnt, Kafka away for {} batches, {} messages for {} events — auditor agrees, stream complete",
            report.requests, report.events, report.committed_batches, report.crashes, report.lost_answers, report.resends, report.duplicates, report.broken_streams, report.cut_off_requests, report.refused, report.replacements, report.replaced_card_refusals, report.orders, report.orders_picked_up, report.orders_cancelled, report.orders_expired, report.coupon_uses, report.coupons_kept, report.refunds_elsewhere, report.returns_without_receipt, report.late_confirms, Points(report.debt_incurred), Points(report.debt_total), Points(report.points_matured), Points(report.points_burnt), report.kafka_outage_batches, report.published, report.events
        );
        if let Some(c) = &report.cluster {
            println!(
                "  cluster: {} messages ({} lost), {} replica crashes, {} leaders cut off, {} leader changes, {} failed proposals found committed, {} found absent — replicas equal",
                c.messages, c.messages_lost, c.replica_crashes, c.partitions, c.leader_changes, c.in_doubt_committed, c.in_doubt_absent
            );
        }
        totals.0 += report.requests;
        totals.1 += report.events;
        totals.2 += 1;
    }
    println!(
        "{} seeds, {} requests, {} events: all agree",
        totals.2, totals.0, totals.1
    );
    Ok(())
}
