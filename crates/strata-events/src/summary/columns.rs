//! The columns of a summary part and the conversion of histories to and from
//! them: one row per user, plain Parquet types (timestamps, dates, 64-bit
//! integers and floats, lists of structs), never an opaque blob.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray, TimestampMillisecondArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use strata_core::{
    CHANNELS, ChannelCounts, DayTotal, EngagementParts, HistoryParts, HourCounts, LifecycleModel,
    OfferIssue, SeriesParts, UnixMillis, UserHistory,
};

use crate::Error;

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, false)))
}

fn day_fields() -> Fields {
    Fields::from(vec![
        Field::new("day", DataType::Date32, false),
        Field::new("events", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
    ])
}

fn series_fields() -> Fields {
    Fields::from(vec![
        Field::new("count", DataType::Int64, false),
        Field::new("total", DataType::Float64, false),
        Field::new("first_at", timestamp(), true),
        Field::new("last_at", timestamp(), true),
        Field::new("days", list_of(DataType::Struct(day_fields())), false),
    ])
}

fn offer_fields() -> Fields {
    Fields::from(vec![
        Field::new("at", timestamp(), false),
        Field::new("benefit_id", DataType::Utf8, false),
        Field::new("treated", DataType::Boolean, false),
    ])
}

fn redemption_fields() -> Fields {
    Fields::from(vec![
        Field::new("at", timestamp(), false),
        Field::new("benefit_id", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, true),
    ])
}

/// Sends and responses by hour of the week and week parity
/// (`strata_core::HourCounts`).
fn hour_fields() -> Fields {
    Fields::from(vec![
        Field::new("slot", DataType::Int64, false),
        Field::new("sends", DataType::Int64, false),
        Field::new("responses", DataType::Int64, false),
    ])
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("first_seen", timestamp(), true),
        Field::new("last_seen", timestamp(), true),
        Field::new("event_count", DataType::Int64, false),
        Field::new("purchase_count", DataType::Int64, false),
        Field::new("purchase_total", DataType::Float64, false),
        Field::new("purchase_first_at", timestamp(), true),
        Field::new("purchase_last_at", timestamp(), true),
        Field::new(
            "purchase_days",
            list_of(DataType::Struct(day_fields())),
            false,
        ),
        Field::new("rating_count", DataType::Int64, false),
        Field::new("rating_sum", DataType::Int64, false),
        Field::new("review_count", DataType::Int64, false),
        Field::new("add_to_cart_count", DataType::Int64, false),
        Field::new("favorite_count", DataType::Int64, false),
        Field::new("wallet_share", DataType::Float64, true),
        Field::new("wallet_share_at", timestamp(), true),
    ];
    for channel in CHANNELS {
        fields.push(Field::new(
            format!("{channel}_sends"),
            DataType::Int64,
            false,
        ));
        fields.push(Field::new(
            format!("{channel}_responses"),
            DataType::Int64,
            false,
        ));
    }
    fields.extend([
        Field::new("recent_contacts", list_of(timestamp()), false),
        Field::new("offers", list_of(DataType::Struct(offer_fields())), false),
        Field::new(
            "redemptions",
            list_of(DataType::Struct(redemption_fields())),
            false,
        ),
        Field::new(
            "tracked_series",
            list_of(DataType::Struct(series_fields())),
            false,
        ),
        Field::new(
            "send_hours",
            list_of(DataType::Struct(hour_fields())),
            false,
        ),
    ]);
    Arc::new(Schema::new(fields))
});

/// The Arrow schema of a summary part: one row per user.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Counts are `u64` in a history and Int64 in Parquet (Spark has no
/// unsigned type); no real count reaches 2^63.
fn int(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn utc(values: Vec<Option<UnixMillis>>) -> TimestampMillisecondArray {
    TimestampMillisecondArray::from(values).with_timezone("UTC")
}

fn list(item: DataType, offsets: Vec<i32>, values: ArrayRef) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", item, false)),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    ))
}

/// Offsets of a list column: one more than its rows, starting at 0.
fn offset(len: usize) -> i32 {
    i32::try_from(len).expect("a batch holds far fewer than 2^31 list entries")
}

#[derive(Default)]
struct DaysColumn {
    offsets: Vec<i32>,
    day: Vec<i32>,
    events: Vec<i64>,
    amount: Vec<f64>,
}

impl DaysColumn {
    fn new() -> DaysColumn {
        DaysColumn {
            offsets: vec![0],
            ..DaysColumn::default()
        }
    }

    fn push(&mut self, days: &[DayTotal]) {
        for total in days {
            self.day.push(total.day);
            self.events.push(i64::from(total.events));
            self.amount.push(total.amount);
        }
        self.offsets.push(offset(self.day.len()));
    }

    fn finish(self) -> ArrayRef {
        let values = StructArray::new(
            day_fields(),
            vec![
                Arc::new(Date32Array::from(self.day)),
                Arc::new(Int64Array::from(self.events)),
                Arc::new(Float64Array::from(self.amount)),
            ],
            None,
        );
        list(
            DataType::Struct(day_fields()),
            self.offsets,
            Arc::new(values),
        )
    }
}

struct SeriesColumn {
    offsets: Vec<i32>,
    count: Vec<i64>,
    total: Vec<f64>,
    first_at: Vec<Option<UnixMillis>>,
    last_at: Vec<Option<UnixMillis>>,
    days: DaysColumn,
}

impl SeriesColumn {
    fn new() -> SeriesColumn {
        SeriesColumn {
            offsets: vec![0],
            count: Vec::new(),
            total: Vec::new(),
            first_at: Vec::new(),
            last_at: Vec::new(),
            days: DaysColumn::new(),
        }
    }

    fn push_one(&mut self, series: &SeriesParts) {
        self.count.push(int(series.count));
        self.total.push(series.total);
        self.first_at.push(series.first_at);
        self.last_at.push(series.last_at);
        self.days.push(&series.days);
    }

    fn push(&mut self, series: &[SeriesParts]) {
        series.iter().for_each(|one| self.push_one(one));
        self.offsets.push(offset(self.count.len()));
    }

    fn finish(self) -> ArrayRef {
        let values = StructArray::new(
            series_fields(),
            vec![
                Arc::new(Int64Array::from(self.count)),
                Arc::new(Float64Array::from(self.total)),
                Arc::new(utc(self.first_at)),
                Arc::new(utc(self.last_at)),
                self.days.finish(),
            ],
            None,
        );
        list(
            DataType::Struct(series_fields()),
            self.offsets,
            Arc::new(values),
        )
    }
}

/// One record batch of users.
fn batch(users: &[(String, UserHistory)]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let rows = users.len();
    let mut user_id = Vec::with_capacity(rows);
    let mut first_seen = Vec::with_capacity(rows);
    let mut last_seen = Vec::with_capacity(rows);
    let mut event_count = Vec::with_capacity(rows);
    let mut purchase_count = Vec::with_capacity(rows);
    let mut purchase_total = Vec::with_capacity(rows);
    let mut purchase_first = Vec::with_capacity(rows);
    let mut purchase_last = Vec::with_capacity(rows);
    let mut purchase_days = DaysColumn::new();
    let mut counters: [Vec<i64>; 5] = Default::default();
    let mut wallet_share = Vec::with_capacity(rows);
    let mut wallet_share_at = Vec::with_capacity(rows);
    let mut channels: Vec<Vec<i64>> = vec![Vec::with_capacity(rows); 2 * CHANNELS.len()];
    let mut contacts_offsets = vec![0];
    let mut contacts = Vec::new();
    let mut offer_offsets = vec![0];
    let (mut offer_at, mut offer_benefit, mut offer_treated) = (Vec::new(), Vec::new(), Vec::new());
    let mut redemption_offsets = vec![0];
    let (mut redeemed_at, mut redeemed_benefit, mut redeemed_amount) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut series = SeriesColumn::new();
    let mut hour_offsets = vec![0];
    let (mut hour_slot, mut hour_sends, mut hour_responses) = (Vec::new(), Vec::new(), Vec::new());
    for (id, history) in users {
        let parts = history.to_parts();
        user_id.push(id.as_str());
        first_seen.push(parts.first_seen);
        last_seen.push(parts.last_seen);
        event_count.push(int(parts.event_count));
        purchase_count.push(int(parts.purchases.count));
        purchase_total.push(parts.purchases.total);
        purchase_first.push(parts.purchases.first_at);
        purchase_last.push(parts.purchases.last_at);
        purchase_days.push(&parts.purchases.days);
        for (column, value) in counters.iter_mut().zip([
            parts.rating_count,
            parts.rating_sum,
            parts.review_count,
            parts.add_to_cart_count,
            parts.favorite_count,
        ]) {
            column.push(int(value));
        }
        wallet_share.push(parts.wallet_share.map(|(_, share)| share));
        wallet_share_at.push(parts.wallet_share.map(|(at, _)| at));
        for (index, counts) in parts.engagement.channels.iter().enumerate() {
            channels[2 * index].push(i64::from(counts.sends));
            channels[2 * index + 1].push(i64::from(counts.responses));
        }
        contacts.extend(parts.engagement.recent_contacts.iter().map(|at| Some(*at)));
        contacts_offsets.push(offset(contacts.len()));
        for offer in parts.engagement.offers {
            offer_at.push(Some(offer.at));
            offer_benefit.push(offer.benefit_id);
            offer_treated.push(offer.treated);
        }
        offer_offsets.push(offset(offer_at.len()));
        for (at, benefit, amount) in parts.engagement.redemptions {
            redeemed_at.push(Some(at));
            redeemed_benefit.push(benefit);
            redeemed_amount.push(amount);
        }
        redemption_offsets.push(offset(redeemed_at.len()));
        series.push(&parts.series);
        for counts in &parts.engagement.hours {
            hour_slot.push(i64::from(counts.slot));
            hour_sends.push(i64::from(counts.sends));
            hour_responses.push(i64::from(counts.responses));
        }
        hour_offsets.push(offset(hour_slot.len()));
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(user_id)),
        Arc::new(utc(first_seen)),
        Arc::new(utc(last_seen)),
        Arc::new(Int64Array::from(event_count)),
        Arc::new(Int64Array::from(purchase_count)),
        Arc::new(Float64Array::from(purchase_total)),
        Arc::new(utc(purchase_first)),
        Arc::new(utc(purchase_last)),
        purchase_days.finish(),
    ];
    columns.extend(
        counters
            .into_iter()
            .map(|column| Arc::new(Int64Array::from(column)) as ArrayRef),
    );
    columns.push(Arc::new(Float64Array::from(wallet_share)));
    columns.push(Arc::new(utc(wallet_share_at)));
    columns.extend(
        channels
            .into_iter()
            .map(|column| Arc::new(Int64Array::from(column)) as ArrayRef),
    );
    columns.push(list(timestamp(), contacts_offsets, Arc::new(utc(contacts))));
    let offers = StructArray::new(
        offer_fields(),
        vec![
            Arc::new(utc(offer_at)),
            Arc::new(StringArray::from_iter_values(offer_benefit)),
            Arc::new(BooleanArray::from(offer_treated)),
        ],
        None,
    );
    columns.push(list(
        DataType::Struct(offer_fields()),
        offer_offsets,
        Arc::new(offers),
    ));
    let redemptions = StructArray::new(
        redemption_fields(),
        vec![
            Arc::new(utc(redeemed_at)),
            Arc::new(StringArray::from(redeemed_benefit)),
            Arc::new(Float64Array::from(redeemed_amount)),
        ],
        None,
    );
    columns.push(list(
        DataType::Struct(redemption_fields()),
        redemption_offsets,
        Arc::new(redemptions),
    ));
    columns.push(series.finish());
    let hours = StructArray::new(
        hour_fields(),
        vec![
            Arc::new(Int64Array::from(hour_slot)),
            Arc::new(Int64Array::from(hour_sends)),
            Arc::new(Int64Array::from(hour_responses)),
        ],
        None,
    );
    columns.push(list(
        DataType::Struct(hour_fields()),
        hour_offsets,
        Arc::new(hours),
    ));
    RecordBatch::try_new(schema(), columns)
}

/// Writes `users` to a new Parquet file at `path`, `batch_users` per record batch.
pub(super) fn write_part(
    path: &Path,
    users: &[(String, UserHistory)],
    batch_users: usize,
) -> Result<(), Error> {
    let parquet_error = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema(), Some(properties)).map_err(parquet_error)?;
    for chunk in users.chunks(batch_users.max(1)) {
        let batch = batch(chunk).map_err(|source| Error::Arrow {
            path: path.to_owned(),
            source,
        })?;
        writer.write(&batch).map_err(parquet_error)?;
    }
    let file = writer.into_inner().map_err(parquet_error)?;
    file.sync_all().map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads every user of one part (already checked against its manifest
/// entry) into histories shaped for `model`.
pub(super) fn read_part(
    path: &Path,
    bytes: bytes::Bytes,
    model: &LifecycleModel,
) -> Result<Vec<(String, UserHistory)>, Error> {
    let parquet_error = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let damaged = |reason: String| Error::Summary {
        path: path.to_owned(),
        reason,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(parquet_error)?;
    let found = builder.schema().clone();
    let expected = schema();
    for field in expected.fields() {
        match found.field_with_name(field.name()) {
            Ok(column) if same_shape(column.data_type(), field.data_type()) => {}
            Ok(column) => {
                return Err(damaged(format!(
                    "column `{}` is {}, a summary's is {}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )));
            }
            Err(_) => {
                return Err(damaged(format!(
                    "no column `{}`: not a strata summary part",
                    field.name()
                )));
            }
        }
    }
    if found.fields().len() != expected.fields().len() {
        return Err(damaged(format!(
            "{} columns, a summary part has {}",
            found.fields().len(),
            expected.fields().len()
        )));
    }
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(parquet_error)?;
    let empty = UserHistory::new(model);
    let mut users = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| Error::Arrow {
            path: path.to_owned(),
            source,
        })?;
        for field in expected.fields() {
            let column = batch
                .column_by_name(field.name())
                .expect("the schema was checked before reading");
            if let Some(path) = null_where_none_allowed(column.as_ref(), field, field.name()) {
                return Err(damaged(format!(
                    "`{path}` holds a null, which a summary never does"
                )));
            }
        }
        let columns = BatchColumns::new(&batch);
        for row in 0..batch.num_rows() {
            let (user_id, parts) = columns.row(row).map_err(&damaged)?;
            let history = empty
                .clone()
                .with_parts(parts)
                .map_err(|error| damaged(format!("user {user_id:?}: {error}")))?;
            users.push((user_id, history));
        }
    }
    Ok(users)
}

/// Whether a part's column type `found` is the summary's `expected` up to
/// nullability and the names of list items: the same columns as another
/// engine writes them (Spark writes every field nullable and names list
/// items `element`). Nulls where the summary has none are refused per batch
/// by [`null_where_none_allowed`].
pub(super) fn same_shape(found: &DataType, expected: &DataType) -> bool {
    match (found, expected) {
        (DataType::List(found), DataType::List(expected)) => {
            same_shape(found.data_type(), expected.data_type())
        }
        (DataType::Struct(found), DataType::Struct(expected)) => {
            found.len() == expected.len()
                && found.iter().zip(expected.iter()).all(|(found, expected)| {
                    found.name() == expected.name()
                        && same_shape(found.data_type(), expected.data_type())
                })
        }
        _ => found == expected,
    }
}

/// The path of the first value of `array` (of a column shaped like `field`,
/// see [`same_shape`]) that is null where the summary's schema allows none.
pub(super) fn null_where_none_allowed(
    array: &dyn Array,
    field: &Field,
    path: &str,
) -> Option<String> {
    if !field.is_nullable() && array.null_count() > 0 {
        return Some(path.to_owned());
    }
    match field.data_type() {
        DataType::List(item) => {
            let list = array.as_list::<i32>();
            null_where_none_allowed(list.values().as_ref(), item, &format!("{path}[]"))
        }
        DataType::Struct(fields) => {
            let values = array.as_struct();
            fields
                .iter()
                .zip(values.columns())
                .find_map(|(child, column)| {
                    null_where_none_allowed(
                        column.as_ref(),
                        child,
                        &format!("{path}.{}", child.name()),
                    )
                })
        }
        _ => None,
    }
}

/// A batch's columns, typed (the schema was checked before reading).
struct BatchColumns<'a> {
    user_id: &'a StringArray,
    times: [&'a TimestampMillisecondArray; 4],
    event_count: &'a Int64Array,
    purchase_count: &'a Int64Array,
    purchase_total: &'a Float64Array,
    purchase_days: &'a ListArray,
    counters: [&'a Int64Array; 5],
    wallet_share: &'a Float64Array,
    wallet_share_at: &'a TimestampMillisecondArray,
    channels: Vec<&'a Int64Array>,
    contacts: &'a ListArray,
    offers: &'a ListArray,
    redemptions: &'a ListArray,
    series: &'a ListArray,
    hours: &'a ListArray,
}

fn rows_of(list: &ListArray, row: usize) -> std::ops::Range<usize> {
    let offsets = list.value_offsets();
    let start = usize::try_from(offsets[row]).unwrap_or(0);
    let end = usize::try_from(offsets[row + 1]).unwrap_or(0);
    start..end
}

fn count(value: i64, what: &str) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("{what} is negative ({value})"))
}

fn time(array: &TimestampMillisecondArray, row: usize) -> Option<UnixMillis> {
    array.is_valid(row).then(|| array.value(row))
}

fn days_of(list: &ListArray, row: usize) -> Result<Vec<DayTotal>, String> {
    let values = list.values().as_struct();
    let day = values.column(0).as_primitive::<Date32Type>();
    let events = values.column(1).as_primitive::<Int64Type>();
    let amount = values.column(2).as_primitive::<Float64Type>();
    rows_of(list, row)
        .map(|index| {
            Ok(DayTotal {
                day: day.value(index),
                events: u32::try_from(events.value(index))
                    .map_err(|_| format!("day events {} out of range", events.value(index)))?,
                amount: amount.value(index),
            })
        })
        .collect()
}

impl<'a> BatchColumns<'a> {
    fn new(batch: &'a RecordBatch) -> BatchColumns<'a> {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .expect("the schema was checked before reading")
        };
        let int = |name: &str| column(name).as_primitive::<Int64Type>();
        let at = |name: &str| column(name).as_primitive::<TimestampMillisecondType>();
        BatchColumns {
            user_id: column("user_id").as_string::<i32>(),
            times: [
                at("first_seen"),
                at("last_seen"),
                at("purchase_first_at"),
                at("purchase_last_at"),
            ],
            event_count: int("event_count"),
            purchase_count: int("purchase_count"),
            purchase_total: column("purchase_total").as_primitive::<Float64Type>(),
            purchase_days: column("purchase_days").as_list::<i32>(),
            counters: [
                int("rating_count"),
                int("rating_sum"),
                int("review_count"),
                int("add_to_cart_count"),
                int("favorite_count"),
            ],
            wallet_share: column("wallet_share").as_primitive::<Float64Type>(),
            wallet_share_at: at("wallet_share_at"),
            channels: CHANNELS
                .iter()
                .flat_map(|channel| {
                    [
                        int(&format!("{channel}_sends")),
                        int(&format!("{channel}_responses")),
                    ]
                })
                .collect(),
            contacts: column("recent_contacts").as_list::<i32>(),
            offers: column("offers").as_list::<i32>(),
            redemptions: column("redemptions").as_list::<i32>(),
            series: column("tracked_series").as_list::<i32>(),
            hours: column("send_hours").as_list::<i32>(),
        }
    }

    fn row(&self, row: usize) -> Result<(String, HistoryParts), String> {
        let user_id = self.user_id.value(row).to_owned();
        let [
            rating_count,
            rating_sum,
            review_count,
            add_to_cart_count,
            favorite_count,
        ] = self.counters.map(|column| column.value(row));
        let mut channels = [ChannelCounts::default(); CHANNELS.len()];
        for (index, counts) in channels.iter_mut().enumerate() {
            let narrow = |value: i64| {
                u32::try_from(value).map_err(|_| format!("channel count {value} out of range"))
            };
            counts.sends = narrow(self.channels[2 * index].value(row))?;
            counts.responses = narrow(self.channels[2 * index + 1].value(row))?;
        }
        let contacts = self
            .contacts
            .values()
            .as_primitive::<TimestampMillisecondType>();
        let recent_contacts = rows_of(self.contacts, row)
            .map(|index| contacts.value(index))
            .collect();
        let offers = self.offers.values().as_struct();
        let (offer_at, offer_benefit, offer_treated) = (
            offers.column(0).as_primitive::<TimestampMillisecondType>(),
            offers.column(1).as_string::<i32>(),
            offers.column(2).as_boolean(),
        );
        let offers = rows_of(self.offers, row)
            .map(|index| OfferIssue {
                at: offer_at.value(index),
                benefit_id: strata_core::engagement::benefit_id(offer_benefit.value(index)),
                treated: offer_treated.value(index),
            })
            .collect();
        let redemptions = self.redemptions.values().as_struct();
        let (redeemed_at, redeemed_benefit, redeemed_amount) = (
            redemptions
                .column(0)
                .as_primitive::<TimestampMillisecondType>(),
            redemptions.column(1).as_string::<i32>(),
            redemptions.column(2).as_primitive::<Float64Type>(),
        );
        let redemptions = rows_of(self.redemptions, row)
            .map(|index| {
                (
                    redeemed_at.value(index),
                    redeemed_benefit.value(index).to_owned(),
                    redeemed_amount
                        .is_valid(index)
                        .then(|| redeemed_amount.value(index)),
                )
            })
            .collect();
        let series = self.series.values().as_struct();
        let (series_count, series_total, series_first, series_last, series_days) = (
            series.column(0).as_primitive::<Int64Type>(),
            series.column(1).as_primitive::<Float64Type>(),
            series.column(2).as_primitive::<TimestampMillisecondType>(),
            series.column(3).as_primitive::<TimestampMillisecondType>(),
            series.column(4).as_list::<i32>(),
        );
        let tracked = rows_of(self.series, row)
            .map(|index| {
                Ok(SeriesParts {
                    count: count(series_count.value(index), "series count")?,
                    total: series_total.value(index),
                    first_at: time(series_first, index),
                    last_at: time(series_last, index),
                    days: days_of(series_days, index)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let hours = self.hours.values().as_struct();
        let (hour_slot, hour_sends, hour_responses) = (
            hours.column(0).as_primitive::<Int64Type>(),
            hours.column(1).as_primitive::<Int64Type>(),
            hours.column(2).as_primitive::<Int64Type>(),
        );
        let narrow = |value: i64, what: &str| {
            u32::try_from(value).map_err(|_| format!("{what} {value} out of range"))
        };
        let hours = rows_of(self.hours, row)
            .map(|index| {
                Ok(HourCounts {
                    slot: u16::try_from(hour_slot.value(index)).map_err(|_| {
                        format!("hour slot {} out of range", hour_slot.value(index))
                    })?,
                    sends: narrow(hour_sends.value(index), "hour sends")?,
                    responses: narrow(hour_responses.value(index), "hour responses")?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let [first_seen, last_seen, purchase_first, purchase_last] = self.times;
        let parts = HistoryParts {
            first_seen: time(first_seen, row),
            last_seen: time(last_seen, row),
            event_count: count(self.event_count.value(row), "event_count")?,
            purchases: SeriesParts {
                count: count(self.purchase_count.value(row), "purchase_count")?,
                total: self.purchase_total.value(row),
                first_at: time(purchase_first, row),
                last_at: time(purchase_last, row),
                days: days_of(self.purchase_days, row)?,
            },
            rating_count: count(rating_count, "rating_count")?,
            rating_sum: count(rating_sum, "rating_sum")?,
            review_count: count(review_count, "review_count")?,
            add_to_cart_count: count(add_to_cart_count, "add_to_cart_count")?,
            favorite_count: count(favorite_count, "favorite_count")?,
            wallet_share: match (
                self.wallet_share.is_valid(row),
                time(self.wallet_share_at, row),
            ) {
                (true, Some(at)) => Some((at, self.wallet_share.value(row))),
                _ => None,
            },
            engagement: EngagementParts {
                channels,
                recent_contacts,
                offers,
                redemptions,
                hours,
            },
            series: tracked,
        };
        Ok((user_id, parts))
    }
}
