//! What a user id may be: the same rule for lookups, offers and ingest.

use crate::Error;

/// Longest user id accepted, in bytes of UTF-8.
pub const MAX_USER_ID_BYTES: usize = 256;

pub fn validate_user_id(user_id: &str) -> Result<(), Error> {
    if user_id.is_empty() {
        return Err(Error::EmptyUserId);
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(Error::UserIdTooLong {
            len: user_id.len(),
            max: MAX_USER_ID_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(validate_user_id(""), Err(Error::EmptyUserId));
        assert_eq!(validate_user_id("u1"), Ok(()));
        assert_eq!(validate_user_id(&"x".repeat(256)), Ok(()));
        assert_eq!(
            validate_user_id(&"x".repeat(257)),
            Err(Error::UserIdTooLong { len: 257, max: 256 })
        );
        // The limit is bytes, not characters: 86 three-byte characters are 258 bytes.
        assert!(validate_user_id(&"用".repeat(86)).is_err());
    }
}
