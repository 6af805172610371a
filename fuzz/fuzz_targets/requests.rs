//! Request bodies come off the network: decoding them and the checks the
//! services run before touching the store must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use strata_proto::field_mask::ProfileMask;
use strata_proto::v1::{ApplyUpdatesRequest, BatchGetProfilesRequest, GetOffersRequest};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(request) = BatchGetProfilesRequest::decode(body) {
                for user_id in &request.user_ids {
                    let _ = strata_core::validate_user_id(user_id);
                }
                let _ = ProfileMask::parse(request.field_mask.as_ref());
                round_trip(&request);
            }
        }
        1 => {
            if let Ok(request) = GetOffersRequest::decode(body) {
                let _ = strata_core::validate_user_id(&request.user_id);
                round_trip(&request);
            }
        }
        _ => {
            if let Ok(request) = ApplyUpdatesRequest::decode(body) {
                for profile in &request.upserts {
                    let _ = strata_core::validate_user_id(&profile.user_id);
                }
                for user_id in &request.deletes {
                    let _ = strata_core::validate_user_id(user_id);
                }
                round_trip(&request);
            }
        }
    }
});

/// What the server decodes, it can encode again, and that encoding is stable
/// (the splicing read path copies stored bytes as they are). Bytes, not
/// values, are compared: a NaN score is a valid value unequal to itself.
fn round_trip<M: Message + Default>(message: &M) {
    let encoded = message.encode_to_vec();
    let again = M::decode(encoded.as_slice()).expect("a re-encoded message decodes");
    assert_eq!(again.encode_to_vec(), encoded);
}
