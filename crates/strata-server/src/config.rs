//! The server's typed configuration: defaults here, then a TOML file, then
//! environment variables and flags (applied by the CLI), validated once at
//! start-up.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use strata_proto::v1;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub offers: OffersConfig,
    pub ingest: IngestConfig,
    /// Bearer tokens and scopes; without `[auth]` every caller is served.
    pub auth: Option<crate::auth::AuthConfig>,
    /// TLS on the gRPC port; without `[tls]` it speaks plaintext.
    pub tls: Option<crate::tls::TlsConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// gRPC address; port 0 picks a free port (printed at start).
    pub listen: SocketAddr,
    /// Prometheus metrics HTTP address; port 0 picks a free port.
    pub metrics_listen: SocketAddr,
    /// Most user ids in one BatchGetProfiles call.
    pub max_batch_size: usize,
    /// Largest gRPC message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    /// On SIGTERM, how long in-flight calls may take before connections are closed.
    pub shutdown_grace_seconds: u64,
    /// ProfileService calls in flight; more are shed with RESOURCE_EXHAUSTED.
    pub max_concurrent_requests: usize,
    /// Longest a ProfileService call may take (a shorter client deadline
    /// wins), writing its response included: past it the call's slot is
    /// released even if the client never reads the answer.
    pub request_timeout_seconds: u64,
    /// HTTP/2 streams one connection may have open at once (advertised as
    /// SETTINGS_MAX_CONCURRENT_STREAMS): no connection holds more read slots.
    pub max_concurrent_streams: u32,
    /// Open gRPC connections; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// A new connection that has not sent its first 24 bytes (the HTTP/2
    /// preface, or a TLS hello) by then is closed.
    pub preface_timeout_seconds: u64,
    /// A connection with no call in progress for this long is closed.
    pub idle_timeout_seconds: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            max_batch_size: 1000,
            max_message_bytes: 16 << 20,
            shutdown_grace_seconds: 10,
            // Cached reads are CPU-bound (a core serves about one at a
            // time) and a read from disk parks its blocking thread: 64 per
            // core saturates the cores with room for disk waits, well below
            // the blocking pool's 512 threads, and sheds the rest instead of
            // queueing it.
            max_concurrent_requests: 64 * cores(),
            request_timeout_seconds: 10,
            // A quarter of the default read slots: one connection can hold
            // at most that, whatever it does with its streams.
            max_concurrent_streams: 16 * cores() as u32,
            // Below the usual 1,024-descriptor soft limit with room for
            // RocksDB's files; serve raises the soft limit when it can.
            max_connections: 1000,
            preface_timeout_seconds: 10,
            idle_timeout_seconds: 300,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub block_cache_mb: usize,
    pub bloom_bits_per_key: f64,
    /// Row cache (user id -> stored profile) in front of the block cache; 0 = off.
    pub row_cache_mb: usize,
    /// Profile cache (user id -> stored profile, shared into responses
    /// without a RocksDB read) in front of everything else; 0 = off.
    pub profile_cache_mb: usize,
    /// AdminService LoadSnapshot reads snapshot files only from here when
    /// set (relative paths resolve in it); unset = any absolute path.
    pub snapshot_dir: Option<PathBuf>,
    /// AdminService CreateBackup writes only here when set (relative paths
    /// resolve in it); unset = any absolute path.
    pub backup_dir: Option<PathBuf>,
    /// Newest layer transitions kept for WatchTransitions consumers; a
    /// consumer further behind is told it lost events.
    pub transitions_retained: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from("./data"),
            block_cache_mb: 256,
            bloom_bits_per_key: 10.0,
            row_cache_mb: 256,
            profile_cache_mb: 512,
            snapshot_dir: None,
            backup_dir: None,
            transitions_retained: 1_000_000,
        }
    }
}

impl StoreConfig {
    pub fn store_options(&self) -> strata_store::StoreOptions {
        strata_store::StoreOptions {
            block_cache_bytes: self.block_cache_mb << 20,
            bloom_bits_per_key: self.bloom_bits_per_key,
            row_cache_bytes: self.row_cache_mb << 20,
            profile_cache_bytes: self.profile_cache_mb << 20,
            sync_writes: true,
            transitions_retained: self.transitions_retained,
            ..strata_store::StoreOptions::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OffersConfig {
    /// Offers returned when a request names no `max_offers`.
    pub default_max_offers: usize,
    /// Offers for users strata has no profile for: the first layer's offers.
    pub cold_start: Vec<BenefitConfig>,
}

impl Default for OffersConfig {
    fn default() -> Self {
        OffersConfig {
            default_max_offers: 10,
            cold_start: Vec::new(),
        }
    }
}

/// A benefit written in the config file (cold-start offers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenefitConfig {
    pub benefit_id: String,
    pub kind: BenefitKindConfig,
    /// Minor currency units, basis points or points, as in the proto.
    pub face_value: i64,
    pub currency: String,
    #[serde(default)]
    pub minimum_spend: i64,
    #[serde(default)]
    pub expected_incremental_profit: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenefitKindConfig {
    Coupon,
    Discount,
    Points,
    FreeShipping,
}

impl From<&BenefitConfig> for v1::Benefit {
    fn from(config: &BenefitConfig) -> Self {
        let kind = match config.kind {
            BenefitKindConfig::Coupon => v1::BenefitKind::Coupon,
            BenefitKindConfig::Discount => v1::BenefitKind::Discount,
            BenefitKindConfig::Points => v1::BenefitKind::Points,
            BenefitKindConfig::FreeShipping => v1::BenefitKind::FreeShipping,
        };
        v1::Benefit {
            benefit_id: config.benefit_id.clone(),
            kind: kind.into(),
            face_value: config.face_value,
            currency: config.currency.clone(),
            minimum_spend: config.minimum_spend,
            expected_incremental_profit: config.expected_incremental_profit,
            valid_from: None,
            valid_until: None,
            fairness_required: false,
            policy: String::new(),
            cell: String::new(),
            estimate_low: None,
            estimate_high: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Most upserts plus deletes in one ApplyUpdates batch.
    pub max_records_per_batch: usize,
    /// ApplyUpdates streams open at once; more are refused with RESOURCE_EXHAUSTED.
    pub max_concurrent_streams: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_records_per_batch: 10_000,
            max_concurrent_streams: 16,
        }
    }
}

/// A configuration that cannot be used, naming the key and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("config key {key}: {reason}")]
    Invalid { key: String, reason: String },
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                reason,
            })
        };
        if self.server.max_batch_size == 0 {
            return invalid("server.max_batch_size", "must be at least 1".into());
        }
        if self.server.max_message_bytes < 4096 {
            return invalid("server.max_message_bytes", "must be at least 4096".into());
        }
        if self.store.block_cache_mb == 0 {
            return invalid("store.block_cache_mb", "must be at least 1".into());
        }
        if !(0.0..=64.0).contains(&self.store.bloom_bits_per_key) {
            return invalid(
                "store.bloom_bits_per_key",
                format!("{} is outside 0..=64", self.store.bloom_bits_per_key),
            );
        }
        if self.store.transitions_retained == 0 {
            return invalid("store.transitions_retained", "must be at least 1".into());
        }
        if self.ingest.max_records_per_batch == 0 {
            return invalid("ingest.max_records_per_batch", "must be at least 1".into());
        }
        for (key, value) in [
            (
                "server.max_concurrent_requests",
                self.server.max_concurrent_requests,
            ),
            (
                "server.request_timeout_seconds",
                self.server.request_timeout_seconds as usize,
            ),
            (
                "ingest.max_concurrent_streams",
                self.ingest.max_concurrent_streams,
            ),
            (
                "server.max_concurrent_streams",
                self.server.max_concurrent_streams as usize,
            ),
            ("server.max_connections", self.server.max_connections),
            (
                "server.preface_timeout_seconds",
                self.server.preface_timeout_seconds as usize,
            ),
            (
                "server.idle_timeout_seconds",
                self.server.idle_timeout_seconds as usize,
            ),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1".into());
            }
        }
        for (index, benefit) in self.offers.cold_start.iter().enumerate() {
            let key = format!("offers.cold_start[{index}]");
            if benefit.benefit_id.is_empty() {
                return invalid(&format!("{key}.benefit_id"), "must not be empty".into());
            }
            if benefit.currency.len() != 3
                || !benefit.currency.bytes().all(|b| b.is_ascii_uppercase())
            {
                return invalid(
                    &format!("{key}.currency"),
                    format!(
                        "{:?} is not an ISO 4217 code such as \"EUR\"",
                        benefit.currency
                    ),
                );
            }
            if benefit.face_value < 0 || benefit.minimum_spend < 0 {
                return invalid(
                    &key,
                    "face_value and minimum_spend must not be negative".into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_override_defaults_and_unknown_keys_fail() {
        let config: Config = toml::from_str(
            r#"
            [server]
            max_batch_size = 50
            [[offers.cold_start]]
            benefit_id = "welcome"
            kind = "free_shipping"
            face_value = 500
            currency = "EUR"
            "#,
        )
        .unwrap();
        assert_eq!(config.server.max_batch_size, 50);
        assert_eq!(config.store.block_cache_mb, 256);
        assert_eq!(config.offers.cold_start.len(), 1);
        config.validate().unwrap();

        let unknown = toml::from_str::<Config>("[server]\nmax_batch = 5\n").unwrap_err();
        assert!(unknown.to_string().contains("max_batch"), "{unknown}");
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let config: Config =
            toml::from_str(include_str!("../../../deploy/strata.example.toml")).unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.offers.cold_start[0].benefit_id,
            "welcome-free-shipping"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let mut config = Config::default();
        config.offers.cold_start.push(BenefitConfig {
            benefit_id: "w".into(),
            kind: BenefitKindConfig::Coupon,
            face_value: 1,
            currency: "euro".into(),
            minimum_spend: 0,
            expected_incremental_profit: 0.0,
        });
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.starts_with("config key offers.cold_start[0].currency"),
            "{error}"
        );
    }
}
