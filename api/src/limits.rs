//! Every limit on what a request may carry, in one place, with its unit in the name.
//! Hitting one is a clear `INVALID_ARGUMENT` naming the field and the limit (or
//! `RESOURCE_EXHAUSTED` with a retry hint for rates and queues, in the engine and `rate`).

/// Largest gRPC message accepted, in bytes.
pub const REQUEST_BYTES_MAX: usize = 4 << 20;
/// Concurrent requests per HTTP/2 connection.
pub const CONNECTION_STREAMS_MAX: u32 = 1024;
/// Operations of one store-server stream unanswered at a time: beyond it the server reads
/// no more of the stream until answers go out.
pub const STREAM_OPS_IN_FLIGHT_MAX: usize = 1024;
/// Operations of a stream taken in as one burst (one submission to the ledger writer).
pub const STREAM_BURST_MAX: usize = 256;
/// Writes of one cashbox in flight from one stream (at most the engine's cashbox lane); its
/// further operations wait on the stream.
pub const STREAM_CASHBOX_WRITES_MAX: u32 = 32;
/// Answers of a stream buffered for a client that reads slowly.
pub const STREAM_ANSWERS_BUFFERED: usize = 64;
/// How long calls in flight may go on after the shutdown signal before their connections
/// are dropped (what was acknowledged is durable either way).
pub const SHUTDOWN_GRACE_SECS: u64 = 10;
/// Items per offline upload call.
pub const OFFLINE_BATCH_ITEMS_MAX: usize = 1000;
/// Products per import request.
pub const IMPORT_PRODUCTS_MAX: usize = 10_000;
/// Lines of one cheque on the wire. A programme's own limit (`lines_per_cheque_max`, at
/// most this) is a rule: a cheque over it is answered with the outcome `TOO_MANY_LINES`.
pub const CHEQUE_LINES_MAX: usize = 10_000;
/// The longest a batch may gather requests, in µs: 100 ms.
pub const GATHER_MICROS_MAX: u32 = 100_000;

/// Coupons shown with one cheque, and the bytes of each as scanned.
pub const CHEQUE_COUPONS_MAX: usize = 16;
pub const COUPON_TEXT_BYTES_MAX: usize = 256;
/// Parts of a cheque's payment.
pub const CHEQUE_TENDERS_MAX: usize = 16;
/// The largest gift certificate, in minor units (1,000,000.00).
pub const CERTIFICATE_AMOUNT_MAX: i64 = 100_000_000;
/// Favourite goods a customer may choose.
pub const FAVOURITES_MAX: usize = 10;
/// Coupon codes given in one issue call, or made up by the engine for it.
pub const ISSUE_COUPONS_MAX: usize = 10_000;

/// A card type's name, in bytes.
pub const CARD_TYPE_BYTES_MAX: usize = 64;
/// A person's or a product's or an offer's name, an identifier's text, in bytes.
pub const NAME_BYTES_MAX: usize = 256;
/// A phone number as given, in bytes.
pub const PHONE_BYTES_MAX: usize = 32;
/// A coupon series' name, in bytes.
pub const SERIES_NAME_BYTES_MAX: usize = 128;
/// The reason recorded with a points adjustment, in bytes.
pub const REASON_BYTES_MAX: usize = 256;
/// A path on the server's machine (a backup directory): Linux's `PATH_MAX`.
pub const PATH_BYTES_MAX: usize = 4096;
/// Backups kept in one directory at most.
pub const BACKUPS_KEPT_MAX: u32 = 1000;
/// Barcodes of one product.
pub const PRODUCT_BARCODES_MAX: usize = 32;
/// Groups, products, stores and card types an offer names, together.
pub const OFFER_SCOPE_ITEMS_MAX: usize = 1000;

/// Entries of one history page (and the page when none is asked for).
pub const HISTORY_PAGE_MAX: u32 = 10_000;
pub const HISTORY_PAGE_DEFAULT: u32 = 100;
/// Purchases of one pending list (and the list when no limit is asked for).
pub const PENDING_LIST_MAX: u32 = 10_000;
pub const PENDING_LIST_DEFAULT: u32 = 1000;
/// Purchases found by card (and the count when no limit is asked for), and the account
/// events read at most to find them.
pub const FOUND_PURCHASES_MAX: u32 = 1000;
pub const FOUND_PURCHASES_DEFAULT: u32 = 50;
pub const FIND_EVENTS_SCANNED_MAX: usize = 200_000;
