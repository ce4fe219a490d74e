//! Analytics consumer: joins a consumer group on the event topic, dedupes by event id and
//! keeps per-store, per-day totals; prints them as a table (and JSON with --json).

use clap::Parser;
use loyalty_api::client::analytics::Aggregator;
use loyalty_api::pb;
use prost::Message as _;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Per-store daily totals from the loyalty event stream")]
struct Args {
    #[arg(long, env = "LOYALTY_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    #[arg(long, env = "LOYALTY_KAFKA_TOPIC", default_value = "loyalty.events")]
    topic: String,
    #[arg(long, default_value = "loyalty-analytics")]
    group: String,
    /// Stop after this many seconds without a message (0: run until interrupted, printing
    /// the table every 10 seconds).
    #[arg(long, default_value_t = 0)]
    idle_exit_secs: u64,
    #[arg(long)]
    json: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("group.id", &args.group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&args.topic])?;
    let mut agg = Aggregator::default();
    let mut last = Instant::now();
    let mut printed = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            Ok(Ok(m)) => {
                last = Instant::now();
                match m.payload().map(pb::EventEnvelope::decode) {
                    Some(Ok(e)) => {
                        agg.add(&e);
                    }
                    _ => agg.malformed += 1,
                }
                consumer.commit_message(&m, CommitMode::Async)?;
            }
            Ok(Err(e)) => eprintln!("kafka: {e}"),
            Err(_) => {}
        }
        if args.idle_exit_secs > 0 && last.elapsed() >= Duration::from_secs(args.idle_exit_secs) {
            break;
        }
        if args.idle_exit_secs == 0 && printed.elapsed() >= Duration::from_secs(10) {
            print!("{}", agg.table());
            printed = Instant::now();
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&agg.json())?);
    } else {
        print!("{}", agg.table());
    }
    eprintln!(
        "duplicates removed: {}, malformed: {}",
        agg.duplicates, agg.malformed
    );
    Ok(())
}
