//! [`Encoded`]: a message already in protobuf wire format, sent as is. The
//! server answers BatchGetProfiles with stored profiles spliced into one
//! (`strata-server`'s `splice.rs`); the load tester sends prebuilt requests.
//! It belongs to the contract because both edges name it in generated
//! service code.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType, skip_field};

/// A message already in protobuf wire format, sent as is: the server's
/// BatchGetProfiles answers, the load tester's prebuilt requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoded {
    bytes: prost::bytes::Bytes,
}

impl Encoded {
    pub fn new(bytes: impl Into<prost::bytes::Bytes>) -> Encoded {
        Encoded {
            bytes: bytes.into(),
        }
    }
}

impl prost::Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.bytes);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Only ever sent; decoding skips like an unknown field.
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    fn clear(&mut self) {
        self.bytes.clear();
    }
}
