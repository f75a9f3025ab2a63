//! AWS Signature Version 4 (header form), as documented in "Create a signed AWS API request"
//! (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html) and
//! checked against AWS's published SigV4 test suite (get-vanilla, post-vanilla,
//! post-x-www-form-urlencoded, as vendored in smithy-lang/smithy-rs `aws-sigv4`) and the IAM
//! `ListUsers` example of the same guide.

use super::signing::{hex, hmac_sha256, sha256_hex};

/// An access key pair and where requests signed with it go.
pub struct SigV4 {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    pub service: String,
}

/// One request as SigV4 sees it.
pub struct Signable<'a> {
    pub method: &'a str,
    /// The URI path, already URI-encoded (`/v2/email/outbound-emails`).
    pub path: &'a str,
    /// The query as `name=value` pairs, already URI-encoded; sorted here.
    pub query: &'a [(&'a str, &'a str)],
    /// Every header to sign (`host` and `x-amz-date` among them), any case.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

impl SigV4 {
    /// The `Authorization` header for `request` sent at `amz_date` (`YYYYMMDDTHHMMSSZ`, the
    /// same value as its `x-amz-date` header).
    pub fn authorization(&self, request: &Signable<'_>, amz_date: &str) -> String {
        let date = &amz_date[..amz_date.len().min(8)];
        let (signed_headers, canonical) = self.canonical_request(request);
        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let mut key = hmac_sha256(
            format!("AWS4{}", self.secret_access_key).as_bytes(),
            date.as_bytes(),
        );
        for part in [self.region.as_str(), self.service.as_str(), "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key_id
        )
    }

    /// (signed header names, canonical request).
    fn canonical_request(&self, r: &Signable<'_>) -> (String, String) {
        let mut query: Vec<_> = r.query.to_vec();
        query.sort();
        let query = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| {
                // Trimmed, with runs of spaces folded into one.
                let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
                (k.to_ascii_lowercase(), value)
            })
            .collect();
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical = format!(
            "{}\n{}\n{query}\n{canonical_headers}\n{signed}\n{}",
            r.method,
            r.path,
            sha256_hex(r.payload)
        );
        (signed, canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "20150830T123600Z";

    fn suite(service: &str) -> SigV4 {
        SigV4 {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: service.into(),
        }
    }

    fn signature(authorization: &str) -> &str {
        authorization.rsplit("Signature=").next().unwrap()
    }

    #[test]
    fn signs_the_test_suite_vanilla_requests() {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];
        for (method, expected) in [
            (
                "GET",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "POST",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        ] {
            let request = Signable {
                method,
                path: "/",
                query: &[],
                headers: &headers,
                payload: b"",
            };
            let auth = suite("service").authorization(&request, DATE);
            assert_eq!(signature(&auth), expected, "{method}");
            assert!(auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
            ));
        }
    }

    #[test]
    fn signs_the_test_suite_form_post_with_its_body_and_content_type() {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", DATE),
        ];
        let request = Signable {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            payload: b"Param1=value1",
        };
        let auth = suite("service").authorization(&request, DATE);
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date,"));
        assert_eq!(
            signature(&auth),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn signs_the_documented_iam_list_users_example() {
        let headers = [
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Host", "iam.amazonaws.com"),
            ("X-Amz-Date", DATE),
        ];
        let request = Signable {
            method: "GET",
            path: "/",
            query: &[("Version", "2010-05-08"), ("Action", "ListUsers")],
            headers: &headers,
            payload: b"",
        };
        assert_eq!(
            signature(&suite("iam").authorization(&request, DATE)),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }
}
