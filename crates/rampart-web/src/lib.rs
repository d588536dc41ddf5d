//! The browser UI's files, embedded at compile time (see `build.rs`), with what the server
//! needs to answer for them: bytes, media type, a strong validator, and whether the name
//! is content-hashed (then it never changes and may be cached for a year).

use std::borrow::Cow;

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
}
