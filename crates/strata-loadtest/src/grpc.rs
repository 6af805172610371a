//! The gRPC side of the load generator: one tonic `Channel` per connection,
//! requests encoded straight from the prebuilt ids into a reused buffer, and
//! answers counted rather than decoded.
//!
//! The generator must cost the client machine far less than the server it
//! measures. Decoding a batch of 1,000 profiles into generated structs
//! allocates thousands of strings, so responses go through the summary types
//! below, which walk the protobuf framing and keep counts only.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use prost::bytes::Buf;
use prost::encoding::{DecodeContext, WireType, decode_varint, encode_varint, skip_field};
use tonic::Code;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic_prost::ProstCodec;

use strata_client::{AuthChannel, Connection};

use crate::driver::{Answer, Caller};
use crate::error::LoadError;
use strata_proto::Encoded;
use strata_proto::v1::{OfferContext, Surface};

/// The RPC a run calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// ProfileService.BatchGetProfiles with `--batch` ids per request.
    BatchGetProfiles,
    /// ProfileService.GetOffers for one user, on the app home surface.
    GetOffers,
}

const BATCH_GET_PATH: &str = "/strata.v1.ProfileService/BatchGetProfiles";
const GET_OFFERS_PATH: &str = "/strata.v1.ProfileService/GetOffers";

/// Key of field 1 (`user_ids` / `user_id`), length-delimited.
const USER_ID_KEY: u8 = 1 << 3 | 2;
/// Key of GetOffersRequest field 2 (`context`), length-delimited.
const CONTEXT_KEY: u8 = 2 << 3 | 2;

/// Opens `connections` HTTP/2 connections to `target`; every in-flight slot
/// of a connection multiplexes its calls over that one channel.
pub async fn connect(
    target: SocketAddr,
    connections: usize,
    timeout: Duration,
    token: Option<&str>,
    tls: Option<&strata_client::TlsOptions>,
) -> Result<Vec<AuthChannel>, LoadError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut connection =
        Connection::new(format!("{scheme}://{target}")).with_connect_timeout(timeout);
    if let Some(token) = token {
        connection = connection.with_token(token);
    }
    if let Some(tls) = tls {
        connection = connection.with_tls(tls.clone());
    }
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        // connect() rather than connect_lazy(): one connection each, made now,
        // so a wrong address fails before the run instead of as errors in it.
        channels.push(connection.connect().await?);
    }
    Ok(channels)
}

/// One caller per in-flight slot, `in_flight` per channel.
pub fn callers(method: Method, channels: &[AuthChannel], in_flight: usize) -> Vec<GrpcCaller> {
    let context = OfferContext {
        surface: Surface::AppHome.into(),
        ..OfferContext::default()
    }
    .encode_to_vec();
    channels
        .iter()
        .flat_map(|channel| std::iter::repeat_n(channel, in_flight))
        .map(|channel| GrpcCaller {
            method,
            grpc: Grpc::new(channel.clone()).max_decoding_message_size(usize::MAX),
            buffer: BytesMut::new(),
            offer_context: Bytes::from(context.clone()),
        })
        .collect()
}

/// Calls BatchGetProfiles or GetOffers on one channel.
pub struct GrpcCaller {
    method: Method,
    grpc: Grpc<AuthChannel>,
    /// Request bodies are split off this buffer; once tonic has encoded and
    /// dropped one, `reserve` reclaims its memory for the next.
    buffer: BytesMut,
    /// The encoded `OfferContext` every GetOffers request carries.
    offer_context: Bytes,
}

impl Caller for GrpcCaller {
    async fn call(&mut self, ids: &[&[u8]]) -> Result<Answer, Code> {
        let body = self.encode(ids);
        self.grpc.ready().await.map_err(|_| Code::Unavailable)?;
        let request = tonic::Request::new(Encoded::new(body));
        match self.method {
            Method::BatchGetProfiles => {
                let codec = ProstCodec::<Encoded, BatchGetSummary>::default();
                let path = PathAndQuery::from_static(BATCH_GET_PATH);
                let summary = self
                    .grpc
                    .unary(request, path, codec)
                    .await
                    .map_err(|status| status.code())?
                    .into_inner();
                summary.answer(ids.len())
            }
            Method::GetOffers => {
                let codec = ProstCodec::<Encoded, OffersSummary>::default();
                let path = PathAndQuery::from_static(GET_OFFERS_PATH);
                let summary = self
                    .grpc
                    .unary(request, path, codec)
                    .await
                    .map_err(|status| status.code())?
                    .into_inner();
                Ok(Answer {
                    found: u32::from(!summary.cold_start),
                    missing: u32::from(summary.cold_start),
                })
            }
        }
    }
}

impl GrpcCaller {
    /// The request's protobuf bytes: every id as field 1, and for GetOffers
    /// the context as field 2. No field mask: whole profiles, as a checkout
    /// server would ask.
    fn encode(&mut self, ids: &[&[u8]]) -> Bytes {
        let needed: usize = ids.iter().map(|id| id.len() + 6).sum::<usize>() + 16;
        self.buffer.reserve(needed + self.offer_context.len());
        for id in ids {
            self.buffer.put_u8(USER_ID_KEY);
            encode_varint(id.len() as u64, &mut self.buffer);
            self.buffer.put_slice(id);
        }
        if self.method == Method::GetOffers {
            self.buffer.put_u8(CONTEXT_KEY);
            encode_varint(self.offer_context.len() as u64, &mut self.buffer);
            self.buffer.put_slice(&self.offer_context);
        }
        self.buffer.split().freeze()
    }
}

/// A BatchGetProfilesResponse reduced to counts: results, and missing
/// indices (packed or not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct BatchGetSummary {
    results: u32,
    missing: u32,
}

impl BatchGetSummary {
    /// The answer to a batch of `asked` ids; a response with another number
    /// of results breaks the contract and counts as INTERNAL.
    fn answer(&self, asked: usize) -> Result<Answer, Code> {
        if self.results as usize != asked || self.missing > self.results {
            return Err(Code::Internal);
        }
        Ok(Answer {
            found: self.results - self.missing,
            missing: self.missing,
        })
    }
}

impl Message for BatchGetSummary {
    fn encode_raw(&self, _buf: &mut impl prost::bytes::BufMut) {
        unreachable!("a response summary is only decoded")
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match (tag, wire_type) {
            (1, _) => {
                self.results += 1;
                skip_field(wire_type, tag, buf, ctx)
            }
            (2, WireType::LengthDelimited) => {
                self.missing += count_packed_varints(buf, ctx)?;
                Ok(())
            }
            (2, WireType::Varint) => {
                decode_varint(buf)?;
                self.missing += 1;
                Ok(())
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        0
    }

    fn clear(&mut self) {
        *self = BatchGetSummary::default();
    }
}

/// Counts the varints of a packed field without decoding them: each ends in
/// the one byte whose top bit is clear. The field is at most a few kilobytes
/// (1,000 indices), so taking it out as `Bytes` first costs little and lets
/// prost check that it does not run past the message.
fn count_packed_varints(buf: &mut impl Buf, ctx: DecodeContext) -> Result<u32, prost::DecodeError> {
    let mut packed = Bytes::new();
    prost::encoding::bytes::merge(WireType::LengthDelimited, &mut packed, buf, ctx)?;
    Ok(packed.iter().filter(|byte| **byte < 0x80).count() as u32)
}

/// A GetOffersResponse reduced to what the report needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct OffersSummary {
    offers: u32,
    cold_start: bool,
}

impl Message for OffersSummary {
    fn encode_raw(&self, _buf: &mut impl prost::bytes::BufMut) {
        unreachable!("a response summary is only decoded")
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        match (tag, wire_type) {
            (1, _) => {
                self.offers += 1;
                skip_field(wire_type, tag, buf, ctx)
            }
            (2, WireType::Varint) => {
                self.cold_start = decode_varint(buf)? != 0;
                Ok(())
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        0
    }

    fn clear(&mut self) {
        *self = OffersSummary::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_proto::v1::{
        BatchGetProfilesRequest, BatchGetProfilesResponse, Benefit, GetOffersRequest,
        GetOffersResponse, ProfileResult,
    };

    fn response(found: &[bool]) -> BatchGetProfilesResponse {
        let mut response = BatchGetProfilesResponse::default();
        for (index, found) in found.iter().enumerate() {
            response.results.push(ProfileResult {
                user_id: format!("u{index}"),
                profile: found.then(|| crate::fixtures::demo_profile(1, index as u64, 0)),
            });
            if !found {
                response.missing_indices.push(index as u32);
            }
        }
        response
    }

    #[test]
    fn batch_summary_counts_results_and_missing_users() {
        // 300 results, so missing indices need two-byte varints too.
        let found: Vec<bool> = (0..300).map(|index| index % 3 != 0).collect();
        let bytes = response(&found).encode_to_vec();
        let summary = BatchGetSummary::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            summary,
            BatchGetSummary {
                results: 300,
                missing: 100
            }
        );
        assert_eq!(
            summary.answer(300),
            Ok(Answer {
                found: 200,
                missing: 100
            })
        );
        assert_eq!(summary.answer(299), Err(Code::Internal));
        let empty = BatchGetSummary::decode(&[][..]).unwrap();
        assert_eq!(empty.answer(0), Ok(Answer::default()));
    }

    #[test]
    fn offers_summary_reads_cold_start() {
        let response = GetOffersResponse {
            offers: vec![Benefit::default(), Benefit::default()],
            cold_start: true,
            explanation: None,
            global_control_group: false,
        };
        let summary = OffersSummary::decode(response.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            summary,
            OffersSummary {
                offers: 2,
                cold_start: true
            }
        );
    }

    #[tokio::test]
    async fn encoded_requests_decode_as_the_generated_types() {
        let channel = Connection::new("http://127.0.0.1:1")
            .connect_lazy()
            .unwrap();
        let ids: [&[u8]; 3] = [b"user-00000001", b"", b"user-00000002"];

        let mut batch = callers(Method::BatchGetProfiles, std::slice::from_ref(&channel), 1)
            .pop()
            .unwrap();
        let decoded = BatchGetProfilesRequest::decode(batch.encode(&ids)).unwrap();
        assert_eq!(decoded.user_ids, ["user-00000001", "", "user-00000002"]);
        assert_eq!(decoded.field_mask, None);
        // The buffer is reused once the previous body is gone.
        let again = BatchGetProfilesRequest::decode(batch.encode(&ids[..1])).unwrap();
        assert_eq!(again.user_ids, ["user-00000001"]);

        let mut offers = callers(Method::GetOffers, &[channel], 1).pop().unwrap();
        let decoded = GetOffersRequest::decode(offers.encode(&ids[..1])).unwrap();
        assert_eq!(decoded.user_id, "user-00000001");
        assert_eq!(
            decoded.context.map(|context| context.surface),
            Some(Surface::AppHome.into())
        );
    }
}
