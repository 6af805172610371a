//! Reads: batched profile lookups and offers, with the arguments a caller
//! has at hand rather than hand-built request messages.

use strata_proto::v1::profile_service_client::ProfileServiceClient;
use strata_proto::v1::{
    BatchGetProfilesRequest, BatchGetProfilesResponse, GetOffersRequest, GetOffersResponse,
    OfferContext,
};

use crate::{AuthChannel, ClientError};

/// ProfileService over one connection; cheap to clone (calls multiplex).
#[derive(Debug, Clone)]
pub struct ProfileClient {
    client: ProfileServiceClient<AuthChannel>,
}

impl ProfileClient {
    pub fn new(channel: AuthChannel) -> ProfileClient {
        ProfileClient {
            // A batch of 1,000 full profiles exceeds tonic's 4 MiB default.
            client: ProfileServiceClient::new(channel).max_decoding_message_size(64 << 20),
        }
    }

    /// Profiles of `user_ids`, in request order; `fields` picks top-level
    /// Profile fields (empty = all).
    pub async fn batch_get<I, S>(
        &mut self,
        user_ids: I,
        fields: &[&str],
    ) -> Result<BatchGetProfilesResponse, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let field_mask = (!fields.is_empty()).then(|| prost_types_mask(fields));
        let request = BatchGetProfilesRequest {
            user_ids: user_ids.into_iter().map(Into::into).collect(),
            field_mask,
        };
        Ok(self.client.batch_get_profiles(request).await?.into_inner())
    }

    /// Ranked benefits for one user in `context`.
    pub async fn get_offers(
        &mut self,
        user_id: impl Into<String>,
        context: OfferContext,
        max_offers: u32,
    ) -> Result<GetOffersResponse, ClientError> {
        self.offers(user_id.into(), context, max_offers, false)
            .await
    }

    /// As [`Self::get_offers`], with the answer's `explanation`: for every
    /// benefit considered, the rule that kept or dropped it.
    pub async fn explain_offers(
        &mut self,
        user_id: impl Into<String>,
        context: OfferContext,
        max_offers: u32,
    ) -> Result<GetOffersResponse, ClientError> {
        self.offers(user_id.into(), context, max_offers, true).await
    }

    async fn offers(
        &mut self,
        user_id: String,
        context: OfferContext,
        max_offers: u32,
        explain: bool,
    ) -> Result<GetOffersResponse, ClientError> {
        let request = GetOffersRequest {
            user_id,
            context: Some(context),
            max_offers,
            explain,
        };
        Ok(self.client.get_offers(request).await?.into_inner())
    }

    /// The generated client, for calls this wrapper does not cover.
    pub fn inner(&mut self) -> &mut ProfileServiceClient<AuthChannel> {
        &mut self.client
    }
}

fn prost_types_mask(fields: &[&str]) -> prost_types::FieldMask {
    prost_types::FieldMask {
        paths: fields.iter().map(|field| (*field).to_owned()).collect(),
    }
}
