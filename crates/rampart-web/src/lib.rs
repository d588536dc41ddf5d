//! The browser UI's files, embedded at compile time (see `build.rs`), with what the server
//! needs to answer for them: bytes, media type, a strong validator, and whether the name
//! is content-hashed (then it never changes and may be cached for a year).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use flate2::Compression;
use flate2::write::GzEncoder;

include!(concat!(env!("OUT_DIR"), "/embed.rs"));

/// One file of the UI.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: String,
    /// `"<sha256 hex>"`, quoted as an entity tag.
    pub etag: String,
    /// Vite puts hashed names under `assets/`: a new build gives new names.
    pub immutable: bool,
}

/// The file at `path` (without the leading `/`), if the UI has one.
pub fn asset(path: &str) -> Option<Asset> {
    let file = Dist::get(path)?;
    let hash: String = file
        .metadata
        .sha256_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(Asset {
        content_type: file.metadata.mimetype().to_owned(),
        etag: format!("\"{hash}\""),
        immutable: path.starts_with("assets/"),
        bytes: file.data,
    })
}

/// Files smaller than this are sent as they are: gzip would save a few bytes at most.
const GZIP_MIN_BYTES: usize = 1024;

/// The gzip form of the file at `path`, for text files large enough to gain from it. Made
/// once, on first use, for every such file (the UI has a handful).
pub fn gzipped(path: &str) -> Option<&'static [u8]> {
    static GZIPPED: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    GZIPPED
        .get_or_init(|| {
            Dist::iter()
                .filter_map(|p| {
                    let a = asset(&p)?;
                    let compressible = a.content_type.starts_with("text/")
                        || a.content_type.contains("javascript")
                        || a.content_type.contains("json")
                        || a.content_type.contains("svg");
                    if !compressible || a.bytes.len() < GZIP_MIN_BYTES {
                        return None;
                    }
                    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
                    gz.write_all(&a.bytes).ok()?;
                    let gz = gz.finish().ok()?;
                    (gz.len() < a.bytes.len()).then(|| (p.into_owned(), gz))
                })
                .collect()
        })
        .get(path)
        .map(Vec::as_slice)
}

/// The app's page, answered for every UI route.
pub fn index() -> Option<Asset> {
    asset("index.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_script_and_stylesheet_with_integrity() {
        let page = index().map(|a| String::from_utf8_lossy(&a.bytes).into_owned());
        let page = page.unwrap_or_default();
        assert!(page.contains("<div id=\"app\">"));
        let tags: Vec<&str> = page
            .split('<')
            .filter(|t| t.starts_with("script") || t.starts_with("link rel=\"stylesheet\""))
            .collect();
        assert!(!tags.is_empty());
        for tag in tags {
            assert!(tag.contains("integrity=\"sha384-"), "no SRI: <{tag}");
            assert!(!tag.contains("src=\"http") && !tag.contains("href=\"http"));
        }
        assert!(!page.contains("<style") && !page.contains("style="));
        assert!(page.matches("<script").count() == page.matches(" src=\"/assets/").count());
    }

    #[test]
    fn hashed_assets_are_immutable_and_the_page_is_not() {
        assert!(index().is_some_and(|a| !a.immutable && a.content_type.starts_with("text/html")));
        let scripts: Vec<_> = Dist::iter().filter(|p| p.ends_with(".js")).collect();
        assert!(!scripts.is_empty());
        for p in scripts {
            let a = asset(&p);
            assert!(a.is_some_and(|a| a.immutable && a.content_type.contains("javascript")));
        }
        assert!(asset("../Cargo.toml").is_none());
    }

    #[test]
    fn scripts_have_a_gzip_form_that_decodes_to_the_same_bytes() {
        use std::io::Read;
        let scripts: Vec<_> = Dist::iter().filter(|p| p.ends_with(".js")).collect();
        for p in scripts {
            let plain = asset(&p).map(|a| a.bytes.into_owned()).unwrap_or_default();
            let gz = gzipped(&p).unwrap_or_else(|| panic!("{p} has no gzip form"));
            assert!(gz.len() < plain.len());
            let mut decoded = Vec::new();
            flate2::read::GzDecoder::new(gz)
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, plain);
        }
        if index().is_some_and(|a| a.bytes.len() < GZIP_MIN_BYTES) {
            assert!(
                gzipped("index.html").is_none(),
                "too small to gain from gzip"
            );
        }
    }
}
