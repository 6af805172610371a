//! User attribute files (one row per user: `user_id` plus any columns, as
//! CSV, JSON Lines or Parquet), read into per-user tags and written by the
//! demo generator; and audience lists written as CSV or Parquet.
//!
//! A column becomes a tag key and its cell the tag's values:
//! - CSV: the header names the columns; a cell holds one value, or several
//!   separated by `;` (`newsletter;app_user`); an empty cell is no value;
//! - JSON Lines: one object per line; a string, number or boolean is one
//!   value, an array of them several, `null` none;
//! - Parquet: string, integer, float and boolean columns are one value, a
//!   list column of those several; nulls none.
//!
//! Values are trimmed, deduplicated and sorted. A row without a user id, a
//! user on two rows or a column name used twice is an error naming the line
//! (the row number for Parquet): attributes are joined to profiles, so a
//! silently dropped row would silently drop a user from an audience.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::Error;
use crate::input::Format;

/// The separator of several values in one CSV cell.
pub const CSV_VALUE_SEPARATOR: char = ';';

/// A user's tags: key -> sorted, distinct values.
pub type Tags = BTreeMap<String, Vec<String>>;

/// An attribute file, read whole (a few columns per user).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// Tag keys in the file's column order (without `user_id`).
    pub columns: Vec<String>,
    /// Tags per user; a user whose cells are all empty has no tags but is
    /// still counted in `rows`.
    pub users: BTreeMap<String, Tags>,
    /// Data rows read.
    pub rows: u64,
}

impl Attributes {
    /// Every value seen per key, for checking audience definitions.
    pub fn vocabulary(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut known: BTreeMap<String, BTreeSet<String>> = self
            .columns
            .iter()
            .map(|column| (column.clone(), BTreeSet::new()))
            .collect();
        for tags in self.users.values() {
            for (key, values) in tags {
                known
                    .entry(key.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
        known
    }

    fn add(&mut self, path: &Path, line: u64, user_id: String, tags: Tags) -> Result<(), Error> {
        self.rows += 1;
        if user_id.is_empty() {
            return Err(bad(path, line, "`user_id` is empty".into()));
        }
        if self.users.insert(user_id.clone(), tags).is_some() {
            return Err(bad(
                path,
                line,
                format!("user `{user_id}` has a second row; one row per user"),
            ));
        }
        Ok(())
    }

    fn set_columns(&mut self, path: &Path, names: &[String]) -> Result<usize, Error> {
        let user_column = names
            .iter()
            .position(|name| is_user_id(name))
            .ok_or_else(|| Error::MissingColumn {
                path: path.to_owned(),
                column: "user_id",
            })?;
        let mut seen = BTreeSet::new();
        for (index, name) in names.iter().enumerate() {
            if index == user_column {
                continue;
            }
            let name = clean_name(name);
            if name.is_empty() {
                return Err(bad(path, 1, format!("column {} has no name", index + 1)));
            }
            if !seen.insert(name.to_owned()) {
                return Err(bad(path, 1, format!("column `{name}` appears twice")));
            }
            self.columns.push(name.to_owned());
        }
        Ok(user_column)
    }
}

fn clean_name(name: &str) -> &str {
    // A UTF-8 byte order mark sticks to the first name of files saved by spreadsheet tools.
    name.trim_start_matches('\u{feff}').trim()
}

fn is_user_id(name: &str) -> bool {
    clean_name(name).eq_ignore_ascii_case("user_id")
}

fn bad(path: &Path, line: u64, reason: String) -> Error {
    Error::BadAttributeRow {
        path: path.to_owned(),
        line,
        reason,
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Sorted and distinct, blanks dropped.
fn normalise(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = values
        .into_iter()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect();
    set.into_iter().collect()
}

fn insert(tags: &mut Tags, key: &str, values: Vec<String>) {
    let values = normalise(values);
    if !values.is_empty() {
        tags.insert(key.to_owned(), values);
    }
}

/// Reads an attribute file; the format follows the extension.
pub fn read_attributes(path: &Path) -> Result<Attributes, Error> {
    match Format::from_path(path)? {
        Format::Csv => read_csv(path),
        Format::Jsonl => read_jsonl(path),
        Format::Parquet => read_parquet(path),
    }
}

fn read_csv(path: &Path) -> Result<Attributes, Error> {
    let csv_error = |source| Error::Csv {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(file);
    let names: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut attributes = Attributes::default();
    let user_column = attributes.set_columns(path, &names)?;
    let keys: Vec<Option<String>> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (index != user_column).then(|| clean_name(name).to_owned()))
        .collect();
    let mut record = ::csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |position| position.line());
        if record.len() != names.len() {
            return Err(bad(
                path,
                line,
                format!(
                    "expected {} fields as in the header, found {}",
                    names.len(),
                    record.len()
                ),
            ));
        }
        let mut tags = Tags::new();
        for (cell, key) in record.iter().zip(&keys) {
            if let Some(key) = key {
                let values = cell.split(CSV_VALUE_SEPARATOR).map(str::to_owned).collect();
                insert(&mut tags, key, values);
            }
        }
        let user_id = record
            .get(user_column)
            .unwrap_or_default()
            .trim()
            .to_owned();
        attributes.add(path, line, user_id, tags)?;
    }
    Ok(attributes)
}

fn read_jsonl(path: &Path) -> Result<Attributes, Error> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let mut attributes = Attributes::default();
    let mut columns = BTreeSet::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line_number = index as u64 + 1;
        let line = line.map_err(|source| io_error(path, source))?;
        if line.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)
            .map_err(|error| bad(path, line_number, format!("not a JSON object: {error}")))?;
        let mut user_id = None;
        let mut tags = Tags::new();
        for (key, value) in object {
            if key == "user_id" {
                user_id = Some(json_scalar(&value).ok_or_else(|| {
                    bad(
                        path,
                        line_number,
                        "`user_id` is not text or a number".into(),
                    )
                })?);
                continue;
            }
            let values =
                match &value {
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|item| {
                            json_scalar(item).ok_or_else(|| {
                                bad(path, line_number, format!("`{key}` holds a nested value"))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    serde_json::Value::Null => Vec::new(),
                    other => vec![json_scalar(other).ok_or_else(|| {
                        bad(path, line_number, format!("`{key}` holds an object"))
                    })?],
                };
            columns.insert(key.clone());
            insert(&mut tags, &key, values);
        }
        let user_id =
            user_id.ok_or_else(|| bad(path, line_number, "no `user_id` key".to_owned()))?;
        attributes.add(path, line_number, user_id.trim().to_owned(), tags)?;
    }
    attributes.columns = columns.into_iter().collect();
    Ok(attributes)
}

fn json_scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn read_parquet(path: &Path) -> Result<Attributes, Error> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let parquet_error = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?;
    let fields: Vec<(String, DataType)> = builder
        .schema()
        .fields()
        .iter()
        .map(|field| (field.name().clone(), field.data_type().clone()))
        .collect();
    let names: Vec<String> = fields.iter().map(|(name, _)| name.clone()).collect();
    let mut attributes = Attributes::default();
    let user_column = attributes.set_columns(path, &names)?;
    for (name, data_type) in &fields {
        if !readable(data_type) {
            return Err(Error::UnsupportedAttributeColumn {
                path: path.to_owned(),
                column: name.clone(),
                data_type: data_type.to_string(),
            });
        }
    }
    let reader = builder
        .with_batch_size(8192)
        .build()
        .map_err(parquet_error)?;
    let mut row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|source| Error::Arrow {
            path: path.to_owned(),
            source,
        })?;
        for index in 0..batch.num_rows() {
            row += 1;
            let mut tags = Tags::new();
            let mut user_id = String::new();
            for (column, (name, _)) in fields.iter().enumerate() {
                let values = cell_values(batch.column(column), index);
                if column == user_column {
                    user_id = values.into_iter().next().unwrap_or_default();
                } else {
                    insert(&mut tags, clean_name(name), values);
                }
            }
            attributes.add(path, row, user_id.trim().to_owned(), tags)?;
        }
    }
    Ok(attributes)
}

fn readable(data_type: &DataType) -> bool {
    match data_type {
        DataType::List(item) | DataType::LargeList(item) => scalar(item.data_type()),
        other => scalar(other),
    }
}

fn scalar(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
    )
}

/// The values of one cell: none for a null, several for a list.
fn cell_values(array: &ArrayRef, index: usize) -> Vec<String> {
    if array.is_null(index) {
        return Vec::new();
    }
    match array.data_type() {
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(index);
            (0..items.len())
                .filter_map(|item| scalar_text(&items, item))
                .collect()
        }
        DataType::LargeList(_) => {
            let items = array.as_list::<i64>().value(index);
            (0..items.len())
                .filter_map(|item| scalar_text(&items, item))
                .collect()
        }
        _ => scalar_text(array, index).into_iter().collect(),
    }
}

fn scalar_text(array: &ArrayRef, index: usize) -> Option<String> {
    if array.is_null(index) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(index).to_owned(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(index).to_owned(),
        DataType::Boolean => array.as_boolean().value(index).to_string(),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(index).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(index).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(index).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(index).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(index).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(index).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(index).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(index).to_string(),
        DataType::Float32 => array.as_primitive::<Float32Type>().value(index).to_string(),
        DataType::Float64 => array.as_primitive::<Float64Type>().value(index).to_string(),
        _ => return None,
    })
}

/// Writes attribute rows with a fixed column list; every column may hold
/// several values (`;` in CSV, an array in JSON Lines, a list in Parquet
/// for the columns named in `multi_valued`).
pub struct AttributeWriter {
    path: PathBuf,
    columns: Vec<String>,
    multi_valued: Vec<bool>,
    sink: AttributeSink,
}

enum AttributeSink {
    Csv(Box<::csv::Writer<File>>),
    Jsonl(BufWriter<File>),
    Parquet {
        output: Box<ArrowWriter<File>>,
        schema: Arc<Schema>,
        user_id: StringBuilder,
        single: Vec<StringBuilder>,
        lists: Vec<ListBuilder<StringBuilder>>,
        pending: usize,
    },
}

impl AttributeWriter {
    pub fn create(path: &Path, columns: &[&str], multi_valued: &[&str]) -> Result<Self, Error> {
        let file = File::create(path).map_err(|source| io_error(path, source))?;
        let columns: Vec<String> = columns.iter().map(|column| (*column).to_owned()).collect();
        let multi: Vec<bool> = columns
            .iter()
            .map(|column| multi_valued.contains(&column.as_str()))
            .collect();
        let sink = match Format::from_path(path)? {
            Format::Csv => {
                let mut writer = ::csv::Writer::from_writer(file);
                let mut header = vec!["user_id".to_owned()];
                header.extend(columns.iter().cloned());
                writer.write_record(&header).map_err(|source| Error::Csv {
                    path: path.to_owned(),
                    source,
                })?;
                AttributeSink::Csv(Box::new(writer))
            }
            Format::Jsonl => AttributeSink::Jsonl(BufWriter::new(file)),
            Format::Parquet => {
                let mut fields = vec![Field::new("user_id", DataType::Utf8, false)];
                for (column, multi) in columns.iter().zip(&multi) {
                    let data_type = if *multi {
                        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
                    } else {
                        DataType::Utf8
                    };
                    fields.push(Field::new(column, data_type, true));
                }
                let schema = Arc::new(Schema::new(fields));
                let output = parquet_writer(path, file, &schema)?;
                AttributeSink::Parquet {
                    output: Box::new(output),
                    schema,
                    user_id: StringBuilder::new(),
                    single: multi
                        .iter()
                        .filter(|multi| !**multi)
                        .map(|_| StringBuilder::new())
                        .collect(),
                    lists: multi
                        .iter()
                        .filter(|multi| **multi)
                        .map(|_| ListBuilder::new(StringBuilder::new()))
                        .collect(),
                    pending: 0,
                }
            }
        };
        Ok(AttributeWriter {
            path: path.to_owned(),
            columns,
            multi_valued: multi,
            sink,
        })
    }

    /// One user's row: `values[i]` are the values of column `i`.
    pub fn write(&mut self, user_id: &str, values: &[Vec<String>]) -> Result<(), Error> {
        let path = self.path.clone();
        match &mut self.sink {
            AttributeSink::Csv(writer) => {
                let mut record = vec![user_id.to_owned()];
                record.extend(values.iter().map(|cell| cell.join(";")));
                writer.write_record(&record).map_err(|source| Error::Csv {
                    path: path.clone(),
                    source,
                })?;
            }
            AttributeSink::Jsonl(writer) => {
                let mut object = serde_json::Map::new();
                object.insert("user_id".into(), user_id.into());
                for ((column, multi), cell) in
                    self.columns.iter().zip(&self.multi_valued).zip(values)
                {
                    let value = match (multi, cell.as_slice()) {
                        (true, _) => serde_json::Value::from(cell.clone()),
                        (false, [one]) => serde_json::Value::from(one.clone()),
                        (false, []) => serde_json::Value::Null,
                        (false, _) => serde_json::Value::from(cell.clone()),
                    };
                    object.insert(column.clone(), value);
                }
                serde_json::to_writer(&mut *writer, &object)
                    .map_err(|error| io_error(&path, error.into()))?;
                writer
                    .write_all(b"\n")
                    .map_err(|source| io_error(&path, source))?;
            }
            AttributeSink::Parquet {
                user_id: ids,
                single,
                lists,
                pending,
                ..
            } => {
                ids.append_value(user_id);
                let (mut next_single, mut next_list) = (0, 0);
                for (multi, cell) in self.multi_valued.iter().zip(values) {
                    if *multi {
                        let list = &mut lists[next_list];
                        for value in cell {
                            list.values().append_value(value);
                        }
                        list.append(true);
                        next_list += 1;
                    } else {
                        single[next_single].append_option(cell.first());
                        next_single += 1;
                    }
                }
                *pending += 1;
                if *pending >= 64 * 1024 {
                    self.flush()?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        let AttributeSink::Parquet {
            output,
            schema,
            user_id,
            single,
            lists,
            pending,
        } = &mut self.sink
        else {
            return Ok(());
        };
        if *pending == 0 {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(user_id.finish())];
        let (mut next_single, mut next_list) = (0, 0);
        for multi in &self.multi_valued {
            if *multi {
                columns.push(Arc::new(lists[next_list].finish()));
                next_list += 1;
            } else {
                columns.push(Arc::new(single[next_single].finish()));
                next_single += 1;
            }
        }
        *pending = 0;
        write_batch(&self.path, output, schema, columns)
    }

    pub fn finish(mut self) -> Result<(), Error> {
        self.flush()?;
        let path = self.path.clone();
        match self.sink {
            AttributeSink::Csv(mut writer) => {
                writer.flush().map_err(|source| io_error(&path, source))
            }
            AttributeSink::Jsonl(mut writer) => {
                writer.flush().map_err(|source| io_error(&path, source))
            }
            AttributeSink::Parquet { output, .. } => output
                .close()
                .map(|_| ())
                .map_err(|source| Error::Parquet { path, source }),
        }
    }
}

fn parquet_writer(
    path: &Path,
    file: File,
    schema: &Arc<Schema>,
) -> Result<ArrowWriter<File>, Error> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(|source| Error::Parquet {
        path: path.to_owned(),
        source,
    })
}

fn write_batch(
    path: &Path,
    output: &mut ArrowWriter<File>,
    schema: &Arc<Schema>,
    columns: Vec<ArrayRef>,
) -> Result<(), Error> {
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|source| Error::Arrow {
        path: path.to_owned(),
        source,
    })?;
    output.write(&batch).map_err(|source| Error::Parquet {
        path: path.to_owned(),
        source,
    })
}

/// One selected user as `strata audience --out` writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceRow {
    pub user_id: String,
    /// Empty when unknown.
    pub layer: String,
    pub tier: String,
    pub quadrant: String,
    pub propensity: Option<f64>,
}

/// Writes an audience list: CSV (`user_id,layer,tier,quadrant,propensity`,
/// an empty cell for unknown) or Parquet (the same columns, nulls for
/// unknown), by extension.
pub fn write_audience(path: &Path, rows: &[AudienceRow]) -> Result<(), Error> {
    const COLUMNS: [&str; 5] = ["user_id", "layer", "tier", "quadrant", "propensity"];
    let file = File::create(path).map_err(|source| io_error(path, source))?;
    match Format::from_path(path)? {
        Format::Csv => {
            let csv_error = |source| Error::Csv {
                path: path.to_owned(),
                source,
            };
            let mut writer = ::csv::Writer::from_writer(file);
            writer.write_record(COLUMNS).map_err(csv_error)?;
            for row in rows {
                let propensity = row.propensity.map(|p| p.to_string()).unwrap_or_default();
                writer
                    .write_record([
                        row.user_id.as_str(),
                        &row.layer,
                        &row.tier,
                        &row.quadrant,
                        &propensity,
                    ])
                    .map_err(csv_error)?;
            }
            writer.flush().map_err(|source| io_error(path, source))
        }
        Format::Jsonl => Err(Error::UnknownFormat {
            path: path.to_owned(),
        }),
        Format::Parquet => {
            let schema = Arc::new(Schema::new(vec![
                Field::new("user_id", DataType::Utf8, false),
                Field::new("layer", DataType::Utf8, true),
                Field::new("tier", DataType::Utf8, true),
                Field::new("quadrant", DataType::Utf8, true),
                Field::new("propensity", DataType::Float64, true),
            ]));
            let mut output = parquet_writer(path, file, &schema)?;
            for chunk in rows.chunks(64 * 1024) {
                let mut user_id = StringBuilder::new();
                let mut layer = StringBuilder::new();
                let mut tier = StringBuilder::new();
                let mut quadrant = StringBuilder::new();
                let mut propensity = Float64Builder::new();
                let known = |text: &String| (!text.is_empty()).then(|| text.clone());
                for row in chunk {
                    user_id.append_value(&row.user_id);
                    layer.append_option(known(&row.layer));
                    tier.append_option(known(&row.tier));
                    quadrant.append_option(known(&row.quadrant));
                    propensity.append_option(row.propensity);
                }
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(user_id.finish()),
                    Arc::new(layer.finish()),
                    Arc::new(tier.finish()),
                    Arc::new(quadrant.finish()),
                    Arc::new(propensity.finish()),
                ];
                write_batch(path, &mut output, &schema, columns)?;
            }
            output.close().map(|_| ()).map_err(|source| Error::Parquet {
                path: path.to_owned(),
                source,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &[&str])]) -> Tags {
        pairs
            .iter()
            .map(|(key, values)| {
                (
                    (*key).to_owned(),
                    values.iter().map(|value| (*value).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn the_three_formats_read_back_what_was_written() {
        let folder = tempfile::tempdir().unwrap();
        for name in ["a.csv", "a.jsonl", "a.parquet"] {
            let path = folder.path().join(name);
            let mut writer =
                AttributeWriter::create(&path, &["region", "tags"], &["tags"]).unwrap();
            writer
                .write(
                    "u1",
                    &[vec!["north".into()], vec!["vip".into(), "app".into()]],
                )
                .unwrap();
            writer.write("u2", &[vec![], vec![]]).unwrap();
            writer.finish().unwrap();
            let read = read_attributes(&path).unwrap();
            assert_eq!(read.rows, 2, "{name}");
            assert_eq!(read.columns, ["region", "tags"], "{name}");
            assert_eq!(
                read.users["u1"],
                tags(&[("region", &["north"]), ("tags", &["app", "vip"])]),
                "{name}"
            );
            assert_eq!(read.users["u2"], Tags::new(), "{name}");
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("bad.csv");
        std::fs::write(&path, "user_id,region\nu1,north\nu1,south\n").unwrap();
        let error = read_attributes(&path).unwrap_err().to_string();
        assert!(error.contains("bad.csv:3:"), "{error}");
        assert!(error.contains("second row"), "{error}");
        std::fs::write(&path, "id,region\nu1,north\n").unwrap();
        let error = read_attributes(&path).unwrap_err().to_string();
        assert!(error.contains("user_id"), "{error}");
        let jsonl = folder.path().join("bad.jsonl");
        std::fs::write(&jsonl, "{\"user_id\":\"u1\"}\n{\"region\":\"x\"}\n").unwrap();
        let error = read_attributes(&jsonl).unwrap_err().to_string();
        assert!(error.contains("bad.jsonl:2:"), "{error}");
    }

    #[test]
    fn audiences_write_as_csv_and_parquet() {
        let folder = tempfile::tempdir().unwrap();
        let rows = vec![AudienceRow {
            user_id: "u1".into(),
            layer: "growth".into(),
            tier: "HIGH".into(),
            quadrant: String::new(),
            propensity: Some(0.25),
        }];
        let csv = folder.path().join("a.csv");
        write_audience(&csv, &rows).unwrap();
        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            "user_id,layer,tier,quadrant,propensity\nu1,growth,HIGH,,0.25\n"
        );
        let parquet = folder.path().join("a.parquet");
        write_audience(&parquet, &rows).unwrap();
        let read = read_attributes(&parquet).unwrap();
        assert_eq!(
            read.users["u1"],
            tags(&[
                ("layer", &["growth"]),
                ("propensity", &["0.25"]),
                ("tier", &["HIGH"])
            ])
        );
    }
}
