//! Summary files round-trip histories exactly, for every preset and with
//! offers, and refuse a damaged, missing or foreign part.

use std::collections::BTreeMap;
use std::path::Path;

use strata_core::{LifecycleModel, UserHistory};

use super::*;
use crate::generate::{self, GenConfig, Preset};

fn histories(preset: Preset, users: u64) -> (LifecycleModel, BTreeMap<String, UserHistory>) {
    let model = LifecycleModel::preset(preset.name()).unwrap();
    let mut histories: BTreeMap<String, UserHistory> = BTreeMap::new();
    generate::generate(&GenConfig::new(users, 120, 7, preset), |event| {
        histories
            .entry(event.user_id.clone())
            .or_insert_with(|| UserHistory::new(&model))
            .observe(&model, event);
    });
    (model, histories)
}

fn manifest(model: &LifecycleModel, parts: u32) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        parts,
        as_of: 0,
        as_of_text: "1970-01-01T00:00:00Z".to_owned(),
        model: ModelIdentity::of(model),
        currency: CurrencyIdentity::default(),
        input: InputTotals::default(),
        window: None,
        users: 0,
        runs: Vec::new(),
        part_files: Vec::new(),
    }
}

/// Spreads users over `parts` by position (the job uses its hash).
fn split(histories: &BTreeMap<String, UserHistory>, parts: u32) -> Vec<Vec<(String, UserHistory)>> {
    let mut split = vec![Vec::new(); parts as usize];
    for (position, (id, history)) in histories.iter().enumerate() {
        split[position % parts as usize].push((id.clone(), history.clone()));
    }
    split
}

fn read_all(dir: &Path, model: &LifecycleModel) -> Result<BTreeMap<String, UserHistory>, Error> {
    let manifest = read_manifest(dir)?;
    let mut all = BTreeMap::new();
    for index in 0..manifest.parts {
        all.extend(read_part(dir, &manifest, index, model)?);
    }
    Ok(all)
}

#[test]
fn every_preset_round_trips_exactly() {
    for preset in [Preset::Retail, Preset::Sns, Preset::Saas, Preset::Wealth] {
        let (model, histories) = histories(preset, 300);
        let offers = histories
            .values()
            .filter(|history| !history.engagement().offers().is_empty())
            .count();
        if preset == Preset::Retail {
            assert!(offers > 0, "the retail population has offers");
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("summaries");
        let written = write(&out, manifest(&model, 3), split(&histories, 3)).unwrap();
        assert_eq!(written.users, histories.len() as u64);
        assert_eq!(read_manifest(&out).unwrap(), written);
        assert!(
            read_all(&out, &model).unwrap() == histories,
            "{}",
            preset.name()
        );
        // Nothing but the parts and the manifest, and no staging folder beside.
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 4);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

#[test]
fn a_damaged_missing_or_foreign_part_is_an_error() {
    let (model, histories) = histories(Preset::Retail, 200);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summaries");
    write(&out, manifest(&model, 2), split(&histories, 2)).unwrap();
    let part = out.join(part_name(1, 2));

    let mut bytes = std::fs::read(&part).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&part, &bytes).unwrap();
    let error = read_all(&out, &model).unwrap_err().to_string();
    assert!(error.contains("damaged"), "{error}");

    std::fs::remove_file(&part).unwrap();
    let error = read_all(&out, &model).unwrap_err().to_string();
    assert!(error.contains("is missing"), "{error}");

    // Folded for another model: its tracked series do not fit.
    let sns = LifecycleModel::preset("sns").unwrap();
    let error = read_part(&out, &read_manifest(&out).unwrap(), 0, &sns)
        .unwrap_err()
        .to_string();
    assert!(error.contains("tracked series"), "{error}");

    // A folder is never overwritten.
    let again = write(&out, manifest(&model, 2), split(&histories, 2)).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
}

#[test]
fn a_manifest_of_another_format_says_so() {
    let (model, histories) = histories(Preset::Saas, 20);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summaries");
    write(&out, manifest(&model, 1), split(&histories, 1)).unwrap();
    let path = out.join(MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            &format!("\"format_version\": {FORMAT_VERSION}"),
            "\"format_version\": 99",
        ),
    )
    .unwrap();
    let error = read_manifest(&out).unwrap_err().to_string();
    assert!(error.contains("summary format 99"), "{error}");
    std::fs::remove_file(&path).unwrap();
    let error = read_manifest(&out).unwrap_err().to_string();
    assert!(error.contains("no manifest.json"), "{error}");
}

#[test]
fn another_engines_column_types_are_accepted_and_its_nulls_refused() {
    use arrow_array::{Int64Array, ListArray, StructArray};
    use arrow_schema::{DataType, Field, Fields};
    use std::sync::Arc;

    // Spark's Parquet: every field nullable, list items named `element`.
    fn as_spark(data_type: &DataType) -> DataType {
        match data_type {
            DataType::List(item) => DataType::List(Arc::new(Field::new(
                "element",
                as_spark(item.data_type()),
                true,
            ))),
            DataType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|field| Field::new(field.name(), as_spark(field.data_type()), true))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    for field in schema().fields() {
        assert!(
            columns::same_shape(&as_spark(field.data_type()), field.data_type()),
            "{}",
            field.name()
        );
    }
    let days = schema().field_with_name("purchase_days").unwrap().clone();
    assert!(!columns::same_shape(&DataType::Int32, &DataType::Int64));
    assert!(!columns::same_shape(
        &DataType::List(Arc::new(Field::new("element", DataType::Int64, true))),
        days.data_type()
    ));

    // A null where a summary has none, at the top or inside a list's structs.
    let count = Field::new("event_count", DataType::Int64, false);
    let with_null = Int64Array::from(vec![Some(1), None]);
    assert_eq!(
        columns::null_where_none_allowed(&with_null, &count, "event_count").as_deref(),
        Some("event_count")
    );
    let DataType::List(item) = days.data_type() else {
        panic!("purchase_days is a list")
    };
    let DataType::Struct(fields) = item.data_type() else {
        panic!("of structs")
    };
    let nullable: Fields = fields
        .iter()
        .map(|field| Field::new(field.name(), field.data_type().clone(), true))
        .collect();
    let values = StructArray::new(
        nullable.clone(),
        vec![
            Arc::new(arrow_array::Date32Array::from(vec![Some(1)])),
            Arc::new(Int64Array::from(vec![None])),
            Arc::new(arrow_array::Float64Array::from(vec![Some(2.0)])),
        ],
        None,
    );
    let list = ListArray::new(
        Arc::new(Field::new("element", DataType::Struct(nullable), true)),
        arrow_buffer::OffsetBuffer::new(vec![0, 1].into()),
        Arc::new(values),
        None,
    );
    assert_eq!(
        columns::null_where_none_allowed(&list, &days, "purchase_days").as_deref(),
        Some("purchase_days[].events")
    );
}
