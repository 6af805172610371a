//! Parquet event logs, read one record batch at a time and only the columns events need.
//!
//! Parquet columns are typed, so each column gets a getter chosen once per batch from its
//! Arrow type; strings, integers of any width, floats, decimals, dates, timestamps of any
//! unit and dictionary-encoded columns are understood.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type,
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, GenericStringArray, OffsetSizeTrait, RecordBatch, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, FieldRef, Schema, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use strata_core::UnixMillis;

use super::row::{Field, RawRow};
use super::{COLUMNS, Tally, column_index};
use crate::Error;

/// Rows per decoded batch: large enough to amortise decoding, small enough to stay a few MB.
const BATCH_ROWS: usize = 8192;

const MILLIS_PER_DAY: i64 = 86_400_000;

const REQUIRED_COLUMNS: usize = 3;

/// One row group of a Parquet file, with what reading it needs from the file's footer.
pub(super) struct Group {
    metadata: ArrowReaderMetadata,
    names: Arc<Vec<String>>,
    /// The position of each of COLUMNS among the file's top-level columns.
    positions: [Option<usize>; COLUMNS.len()],
    index: usize,
    /// Rows of the file before this group.
    first_row: u64,
    rows: u64,
}

/// The row groups of `path` (a non-empty file), each with its share of the file's bytes.
/// Fails if the footer cannot be read or a required column is missing.
pub(super) fn plan(path: &Path, file_bytes: u64) -> Result<Vec<(Group, u64)>, Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let metadata =
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(|source| {
            Error::Parquet {
                path: path.to_owned(),
                source,
            }
        })?;
    let names: Vec<String> = metadata
        .schema()
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect();
    let mut positions = [None; COLUMNS.len()];
    for (slot, column) in positions.iter_mut().zip(COLUMNS) {
        *slot = column_index(&names, column);
    }
    for (position, column) in positions.iter().zip(COLUMNS).take(REQUIRED_COLUMNS) {
        if position.is_none() {
            return Err(Error::MissingColumn {
                path: path.to_owned(),
                column,
            });
        }
    }
    let metadata = with_dictionaries(metadata, &positions);
    let names = Arc::new(names);
    let total_rows = u64::try_from(metadata.metadata().file_metadata().num_rows()).unwrap_or(0);
    let mut groups = Vec::new();
    let mut first_row = 0_u64;
    for (index, group) in metadata.metadata().row_groups().iter().enumerate() {
        let rows = u64::try_from(group.num_rows()).unwrap_or(0);
        let bytes = if total_rows > 0 {
            (u128::from(file_bytes) * u128::from(rows) / u128::from(total_rows)) as u64
        } else {
            0
        };
        groups.push((
            Group {
                metadata: metadata.clone(),
                names: Arc::clone(&names),
                positions,
                index,
                first_row,
                rows,
            },
            bytes,
        ));
        first_row += rows;
    }
    Ok(groups)
}

/// `metadata` reading the text columns of few distinct values (event type, currency,
/// channel, benefit id) as dictionaries: Parquet writers store them dictionary-encoded, and
/// reading the keys skips copying each row's text, while a batch's rows then read each value
/// once ([`Cells::Keys`]). Unchanged if the file's schema does not take the hint.
fn with_dictionaries(
    metadata: ArrowReaderMetadata,
    positions: &[Option<usize>; COLUMNS.len()],
) -> ArrowReaderMetadata {
    let schema = metadata.schema();
    let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
    let mut changed = false;
    for slot in [2, 4, 5, 6] {
        let Some(position) = positions[slot] else {
            continue;
        };
        let field = &fields[position];
        if field.data_type() == &DataType::Utf8 {
            let keyed = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
            fields[position] = Arc::new(field.as_ref().clone().with_data_type(keyed));
            changed = true;
        }
    }
    if !changed {
        return metadata;
    }
    let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let options = ArrowReaderOptions::new().with_schema(hint);
    ArrowReaderMetadata::try_new(Arc::clone(metadata.metadata()), options).unwrap_or(metadata)
}

/// Reads one row group; `group_bytes` is its share of the file, for progress.
pub(super) fn read_group(
    path: &Path,
    group: &Group,
    group_bytes: u64,
    tally: &mut Tally<'_>,
) -> Result<(), Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let parquet_error = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, group.metadata.clone());
    let mask = ProjectionMask::roots(
        builder.parquet_schema(),
        group.positions.iter().flatten().copied(),
    );
    let reader = builder
        .with_projection(mask)
        .with_row_groups(vec![group.index])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;

    let mut rows_done = 0_u64;
    for batch in reader {
        let batch = batch.map_err(|source| Error::Arrow {
            path: path.to_owned(),
            source,
        })?;
        read_batch(
            path,
            &batch,
            &group.names,
            &group.positions,
            group.first_row + rows_done,
            tally,
        )?;
        rows_done += batch.num_rows() as u64;
        if group.rows > 0 {
            let bytes =
                (u128::from(group_bytes) * u128::from(rows_done) / u128::from(group.rows)) as u64;
            // A batch is already thousands of rows, so every batch reports.
            tally.send_progress(bytes);
        }
    }
    Ok(())
}

fn read_batch(
    path: &Path,
    batch: &RecordBatch,
    names: &[String],
    positions: &[Option<usize>; COLUMNS.len()],
    rows_before: u64,
    tally: &mut Tally<'_>,
) -> Result<(), Error> {
    let rows = batch.num_rows();
    let column_at =
        |slot: usize| Column::of(path, batch, names, positions[slot], COLUMNS[slot], rows);
    let user_id = column_at(0)?;
    let timestamp = column_at(1)?;
    let event_type = column_at(2)?;
    let amount = column_at(3)?;
    let currency = column_at(4)?;
    let channel = column_at(5)?;
    let benefit_id = column_at(6)?;
    let rating = column_at(7)?;
    for index in 0..rows {
        let raw = RawRow {
            user_id: user_id.get(index),
            timestamp: timestamp.get(index),
            event_type: event_type.get(index),
            amount: amount.get(index),
            currency: currency.get(index),
            channel: channel.get(index),
            benefit_id: benefit_id.get(index),
            rating: rating.get(index),
        };
        let outcome = raw.fill(&mut tally.event, &mut tally.spares);
        tally.row(path, rows_before + index as u64 + 1, outcome);
    }
    Ok(())
}

/// One column of a batch, decoded once into what its rows are read from: the common types as
/// typed slices read inline, a dictionary's values read once per batch (then each row is a
/// key), other types through a [`Getter`].
struct Column<'a> {
    nulls: Option<&'a NullBuffer>,
    cells: Cells<'a>,
}

enum Cells<'a> {
    Absent,
    Text(&'a StringArray),
    Integers32(&'a [i32]),
    Integers64(&'a [i64]),
    Floats(&'a [f64]),
    Millis(&'a [i64]),
    /// [`Cells::Keys`] with the 32-bit keys the reader's dictionaries have, read in place.
    Keys32 {
        keys: &'a [i32],
        values: Vec<Field<'a>>,
    },
    /// Each row's key into `values`, the dictionary's values as fields.
    Keys {
        keys: Vec<usize>,
        values: Vec<Field<'a>>,
    },
    Other(Getter<'a>),
}

impl<'a> Column<'a> {
    fn of(
        path: &Path,
        batch: &'a RecordBatch,
        names: &[String],
        position: Option<usize>,
        column: &'static str,
        rows: usize,
    ) -> Result<Column<'a>, Error> {
        // The projection keeps names, so the column is found by the file's own spelling.
        let Some(array) = position.and_then(|position| batch.column_by_name(&names[position]))
        else {
            return Ok(Column {
                nulls: None,
                cells: Cells::Absent,
            });
        };
        let array = array.as_ref();
        let unsupported = || Error::UnsupportedColumnType {
            path: path.to_owned(),
            column,
            data_type: array.data_type().to_string(),
        };
        let cells = match array.data_type() {
            DataType::Utf8 => Cells::Text(array.as_string::<i32>()),
            DataType::Int32 => Cells::Integers32(array.as_primitive::<Int32Type>().values()),
            DataType::Int64 => Cells::Integers64(array.as_primitive::<Int64Type>().values()),
            DataType::Float64 => Cells::Floats(array.as_primitive::<Float64Type>().values()),
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                Cells::Millis(array.as_primitive::<TimestampMillisecondType>().values())
            }
            // A dictionary no larger than the batch: its values are read once, not per row.
            DataType::Dictionary(_, _) if array.as_any_dictionary().values().len() <= rows => {
                let dictionary = array.as_any_dictionary();
                let values = getter(dictionary.values().as_ref()).ok_or_else(unsupported)?;
                let values = (0..dictionary.values().len()).map(values).collect();
                match array.as_dictionary_opt::<Int32Type>() {
                    Some(keyed) => Cells::Keys32 {
                        keys: keyed.keys().values(),
                        values,
                    },
                    None => Cells::Keys {
                        keys: dictionary.normalized_keys(),
                        values,
                    },
                }
            }
            _ => Cells::Other(getter(array).ok_or_else(unsupported)?),
        };
        let nulls = match cells {
            // A getter reads nulls itself.
            Cells::Other(_) => None,
            _ => array.nulls().filter(|nulls| nulls.null_count() > 0),
        };
        Ok(Column { nulls, cells })
    }

    /// The cell of row `index`.
    #[inline]
    fn get(&self, index: usize) -> Field<'a> {
        if let Some(nulls) = self.nulls
            && nulls.is_null(index)
        {
            return Field::Absent;
        }
        match &self.cells {
            Cells::Absent => Field::Absent,
            Cells::Text(strings) => Field::Text(strings.value(index)),
            Cells::Integers32(values) => Field::Integer(i64::from(values[index])),
            Cells::Integers64(values) => Field::Integer(values[index]),
            Cells::Floats(values) => Field::Float(values[index]),
            Cells::Millis(values) => Field::Millis(values[index]),
            // A valid dictionary's keys are in range; a null's key is never read.
            Cells::Keys32 { keys, values } => usize::try_from(keys[index])
                .ok()
                .and_then(|key| values.get(key).copied())
                .unwrap_or(Field::Absent),
            Cells::Keys { keys, values } => values[keys[index]],
            Cells::Other(getter) => getter(index),
        }
    }
}

/// Reads row `index` of one column.
type Getter<'a> = Box<dyn Fn(usize) -> Field<'a> + 'a>;

/// A getter for `array`, or `None` if its type cannot hold an event field.
fn getter(array: &dyn Array) -> Option<Getter<'_>> {
    let getter = match array.data_type() {
        DataType::Null => Box::new(|_| Field::Absent),
        DataType::Utf8 => text(array.as_string::<i32>()),
        DataType::LargeUtf8 => text(array.as_string::<i64>()),
        DataType::Utf8View => {
            let strings = array.as_string_view();
            nullable(array, move |index| Field::Text(strings.value(index)))
        }
        DataType::Int8 => integer::<Int8Type>(array),
        DataType::Int16 => integer::<Int16Type>(array),
        DataType::Int32 => integer::<Int32Type>(array),
        DataType::Int64 => integer::<Int64Type>(array),
        DataType::UInt8 => integer::<UInt8Type>(array),
        DataType::UInt16 => integer::<UInt16Type>(array),
        DataType::UInt32 => integer::<UInt32Type>(array),
        DataType::UInt64 => {
            let values = array.as_primitive::<UInt64Type>();
            nullable(array, move |index| {
                let value = values.value(index);
                i64::try_from(value).map_or(Field::Float(value as f64), Field::Integer)
            })
        }
        DataType::Float32 => {
            let values = array.as_primitive::<Float32Type>();
            nullable(array, move |index| {
                Field::Float(f64::from(values.value(index)))
            })
        }
        DataType::Float64 => {
            let values = array.as_primitive::<Float64Type>();
            nullable(array, move |index| Field::Float(values.value(index)))
        }
        DataType::Decimal32(_, scale) => {
            let values = array.as_primitive::<Decimal32Type>();
            decimal(array, *scale, move |index| f64::from(values.value(index)))
        }
        DataType::Decimal64(_, scale) => {
            let values = array.as_primitive::<Decimal64Type>();
            decimal(array, *scale, move |index| values.value(index) as f64)
        }
        DataType::Decimal128(_, scale) => {
            let values = array.as_primitive::<Decimal128Type>();
            decimal(array, *scale, move |index| values.value(index) as f64)
        }
        DataType::Date32 => instant::<Date32Type>(array, |days| i64::from(days) * MILLIS_PER_DAY),
        DataType::Date64 => instant::<Date64Type>(array, |millis| millis),
        DataType::Timestamp(TimeUnit::Second, _) => {
            instant::<TimestampSecondType>(array, |seconds| seconds.saturating_mul(1000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            instant::<TimestampMillisecondType>(array, |millis| millis)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            instant::<TimestampMicrosecondType>(array, |micros| micros.div_euclid(1000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            instant::<TimestampNanosecondType>(array, |nanos| nanos.div_euclid(1_000_000))
        }
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let keys = dictionary.normalized_keys();
            let values = getter(dictionary.values().as_ref())?;
            nullable(array, move |index| values(keys[index]))
        }
        _ => return None,
    };
    Some(getter)
}

/// Wraps `present` so null slots read as absent.
fn nullable<'a>(array: &'a dyn Array, present: impl Fn(usize) -> Field<'a> + 'a) -> Getter<'a> {
    if array.null_count() == 0 {
        return Box::new(present);
    }
    Box::new(move |index| {
        if array.is_null(index) {
            Field::Absent
        } else {
            present(index)
        }
    })
}

fn text<Offset: OffsetSizeTrait>(strings: &GenericStringArray<Offset>) -> Getter<'_> {
    nullable(strings, move |index| Field::Text(strings.value(index)))
}

fn integer<Type>(array: &dyn Array) -> Getter<'_>
where
    Type: ArrowPrimitiveType,
    Type::Native: Into<i64>,
{
    let values = array.as_primitive::<Type>();
    nullable(array, move |index| {
        Field::Integer(values.value(index).into())
    })
}

fn decimal<'a>(
    array: &'a dyn Array,
    scale: i8,
    unscaled: impl Fn(usize) -> f64 + 'a,
) -> Getter<'a> {
    let divisor = 10_f64.powi(i32::from(scale));
    nullable(array, move |index| Field::Float(unscaled(index) / divisor))
}

fn instant<Type: ArrowPrimitiveType>(
    array: &dyn Array,
    to_millis: impl Fn(Type::Native) -> UnixMillis + 'static,
) -> Getter<'_> {
    let values = array.as_primitive::<Type>();
    nullable(array, move |index| {
        Field::Millis(to_millis(values.value(index)))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{StringBuilder, StringDictionaryBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, Decimal128Array, DictionaryArray, Float64Array, Int16Array, Int32Array,
        Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray,
        TimestampMicrosecondArray, TimestampMillisecondArray,
    };
    use parquet::arrow::ArrowWriter;

    use super::super::tests::{EventFields, event};
    use crate::input::{ErrorBudget, EventSource};

    /// Writes `columns` as one Parquet file in two row groups and reads it back.
    fn read_back(columns: Vec<(&str, ArrayRef)>) -> (Vec<strata_core::Event>, Vec<(u64, String)>) {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("events.parquet");
        let batch = RecordBatch::try_from_iter(columns).expect("a batch");
        let file = std::fs::File::create(&path).expect("create");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        let half = batch.num_rows() / 2;
        writer.write(&batch.slice(0, half)).expect("write");
        writer.flush().expect("flush");
        writer
            .write(&batch.slice(half, batch.num_rows() - half))
            .expect("write");
        writer.close().expect("close");

        let source = EventSource::open(&[path]).expect("open");
        let mut events = Vec::new();
        let budget = ErrorBudget {
            max_bad_fraction: 1.0,
            ..ErrorBudget::DEFAULT
        };
        let report = source
            .read(budget, |event| events.push(event))
            .expect("read");
        let bad = report
            .bad_row_samples
            .into_iter()
            .map(|row| (row.line, row.reason))
            .collect();
        (events, bad)
    }

    /// How a test writes its text columns.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Text {
        /// Plain strings, which the reader asks for as dictionaries where few values repeat.
        Plain,
        Large,
        View,
        Dictionary,
    }

    fn text_column(text: Text, cells: &[Option<String>]) -> ArrayRef {
        let cells = cells.iter().map(Option::as_deref);
        match text {
            Text::Plain => Arc::new(cells.collect::<StringArray>()),
            Text::Large => Arc::new(cells.collect::<LargeStringArray>()),
            Text::View => Arc::new(cells.collect::<StringViewArray>()),
            Text::Dictionary => Arc::new(cells.collect::<DictionaryArray<Int32Type>>()),
        }
    }

    /// Rows with nulls, empty and padded text, mixed case, a bad row now and then, and a
    /// benefit id column of more distinct values than a batch holds; in two row groups of
    /// two batches each.
    fn mixed_rows(text: Text, integer_users: bool) -> Vec<(&'static str, ArrayRef)> {
        let rows = 20_000;
        let kinds = ["Purchase", " browse ", "send", "", "offer_issued", "SEND"];
        let text_cells = |cell: &dyn Fn(usize) -> Option<String>| -> Vec<Option<String>> {
            (0..rows).map(cell).collect()
        };
        let user_id: ArrayRef = if integer_users {
            Arc::new(Int64Array::from_iter(
                (0..rows).map(|row| (row % 13 != 5).then_some(row as i64 / 7)),
            ))
        } else {
            text_column(
                text,
                &text_cells(&|row| (row % 13 != 5).then(|| format!("{}", row / 7))),
            )
        };
        let kind = text_cells(&|row| (row % 17 != 3).then(|| kinds[row % kinds.len()].into()));
        let currency = text_cells(&|row| match row % 4 {
            0 => Some("usd".into()),
            1 => None,
            2 => Some(" ".into()),
            _ => Some("Eur".into()),
        });
        let channel =
            text_cells(&|row| (row % 3 != 0).then(|| ["SMS", "app_push"][row % 2].into()));
        let benefit_id = text_cells(&|row| (row % 5 != 0).then(|| format!("b-{row}")));
        vec![
            ("user_id", user_id),
            (
                "timestamp",
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    (0..rows).map(|row| 1_714_536_000_000 + row as i64 * 1000),
                )),
            ),
            ("event_type", text_column(text, &kind)),
            (
                "amount",
                Arc::new(Float64Array::from_iter(
                    (0..rows).map(|row| (row % 4 == 0).then_some(row as f64 / 4.0)),
                )),
            ),
            ("currency", text_column(text, &currency)),
            ("channel", text_column(text, &channel)),
            ("benefit_id", text_column(text, &benefit_id)),
            (
                "rating",
                Arc::new(Int32Array::from_iter(
                    (0..rows).map(|row| (row % 11 == 0).then_some((row % 7) as i32)),
                )),
            ),
        ]
    }

    #[test]
    fn text_columns_read_alike_whatever_their_arrow_type() {
        let (expected, expected_bad) = read_back(mixed_rows(Text::Large, false));
        assert!(expected.len() > 10_000, "{}", expected.len());
        assert!(expected_bad.len() >= 10, "{}", expected_bad.len());
        // Row 1 (row 0 has rating 0, a bad row): trimmed, lowercased, the absent left out.
        assert_eq!(
            expected[0],
            event("0", 1_714_536_001_000, "browse")
                .channel("app_push")
                .benefit("b-1")
        );
        for text in [Text::Plain, Text::View, Text::Dictionary] {
            let (events, bad) = read_back(mixed_rows(text, false));
            assert_eq!(bad, expected_bad, "{text:?}");
            assert!(events == expected, "{text:?}: events differ");
        }
        let (events, bad) = read_back(mixed_rows(Text::Plain, true));
        assert_eq!(bad, expected_bad, "integer user ids");
        assert!(events == expected, "integer user ids: events differ");
    }

    #[test]
    fn typed_columns_from_other_writers() {
        let mut event_types = StringDictionaryBuilder::<Int32Type>::new();
        for kind in ["Purchase", "browse", "rating", "open"] {
            event_types.append_value(kind);
        }
        let mut currencies = StringBuilder::new();
        for currency in [Some("usd"), None, Some(""), None] {
            currencies.append_option(currency);
        }
        let micros = 1_714_536_000_123_456;
        let (events, bad) = read_back(vec![
            (
                "USER_ID",
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
            (
                "timestamp",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![micros, micros, micros, micros])
                        .with_timezone("Asia/Shanghai"),
                ),
            ),
            ("event_type", Arc::new(event_types.finish())),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from(vec![Some(1250), None, None, None])
                        .with_precision_and_scale(10, 2)
                        .expect("decimal"),
                ),
            ),
            ("currency", Arc::new(currencies.finish())),
            (
                "rating",
                Arc::new(Int16Array::from(vec![None, None, Some(3), Some(0)])),
            ),
            (
                "ignored",
                Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
            ),
        ]);
        let at = 1_714_536_000_123;
        assert_eq!(
            events,
            vec![
                event("1", at, "purchase").amount(12.5, "USD"),
                event("2", at, "browse"),
                event("3", at, "rating").rating(3),
            ]
        );
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 4);
        assert!(bad[0].1.contains("rating 0"), "{}", bad[0].1);
    }

    #[test]
    fn epoch_numbers_and_text_timestamps() {
        let (events, bad) = read_back(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    None,
                    Some("d"),
                ])) as ArrayRef,
            ),
            (
                "timestamp",
                Arc::new(StringArray::from(vec![
                    "1714536000",
                    "2024-05-01T12:00:00.5+08:00",
                    "1714536000",
                    "later",
                ])),
            ),
            ("event_type", Arc::new(StringArray::from(vec!["open"; 4]))),
        ]);
        assert_eq!(
            events,
            vec![
                event("a", 1_714_536_000_000, "open"),
                event("b", 1_714_536_000_500, "open")
            ]
        );
        let lines: Vec<u64> = bad.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, vec![3, 4]);

        let (events, _) = read_back(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            (
                "timestamp",
                Arc::new(Int64Array::from(vec![1_714_536_000, 1_714_536_000_123])),
            ),
            ("event_type", Arc::new(StringArray::from(vec!["open"; 2]))),
        ]);
        let instants: Vec<i64> = events.iter().map(|event| event.at).collect();
        assert_eq!(instants, vec![1_714_536_000_000, 1_714_536_000_123]);
    }

    #[test]
    fn unsupported_column_type_names_the_column() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("events.parquet");
        let batch = RecordBatch::try_from_iter(vec![
            (
                "user_id",
                Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
            ),
            ("timestamp", Arc::new(Int64Array::from(vec![0]))),
            ("event_type", Arc::new(StringArray::from(vec!["open"]))),
            (
                "amount",
                Arc::new(arrow_array::BooleanArray::from(vec![true])),
            ),
        ])
        .expect("a batch");
        let file = std::fs::File::create(&path).expect("create");
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(&batch).expect("write");
        writer.close().expect("close");
        let source = EventSource::open(&[path]).expect("open");
        let error = source
            .read(ErrorBudget::default(), |_| {})
            .expect_err("boolean amount");
        assert!(
            error
                .to_string()
                .contains("column `amount` has type Boolean"),
            "{error}"
        );
    }
}
