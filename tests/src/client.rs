//! A small HTTP client for tests: it addresses a tenant by Host name, keeps the session cookie
//! by hand (the `__Host-` cookie is Secure, which client cookie jars refuse over plain HTTP)
//! and sends the CSRF proof a browser would.

use std::net::SocketAddr;

use reqwest::Method;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    addr: SocketAddr,
    base: String,
    pub host: String,
    pub session: Option<String>,
    pub token: Option<String>,
    /// Whether to send `Sec-Fetch-Site: same-origin` with cookie-authenticated writes.
    pub same_origin: bool,
}

/// A response: status, JSON body (or `Null`), headers.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    /// The `code` of a problem document.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

impl Client {
    pub fn new(addr: SocketAddr, host: &str) -> Self {
        Self::from_source(addr, host, None)
    }

    fn from_source(addr: SocketAddr, host: &str, source: Option<std::net::IpAddr>) -> Self {
        let bare = host.split(':').next().unwrap_or(host);
        let http = reqwest::Client::builder()
            .resolve(bare, addr)
            .redirect(reqwest::redirect::Policy::none())
            .local_address(source)
            .build()
            .unwrap();
        let base = format!("http://{bare}:{}", addr.port());
        Self {
            http,
            addr,
            base,
            host: bare.to_owned(),
            session: None,
            token: None,
            same_origin: true,
        }
    }

    /// The same client connecting from another loopback address (`127.0.0.<n>`), to look
    /// like a different client machine to the server.
    pub fn from_loopback(&self, n: u8) -> Self {
        let source = std::net::IpAddr::from([127, 0, 0, n]);
        Self {
            http: Self::from_source(self.addr, &self.host, Some(source)).http,
            ..self.clone()
        }
    }

    pub fn origin(&self) -> String {
        self.base.clone()
    }

    /// The same client with a bearer token instead of a session.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            session: None,
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub fn anonymous(&self) -> Self {
        Self {
            session: None,
            token: None,
            ..self.clone()
        }
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            req = req.header("cookie", format!("__Host-rampart_session={session}"));
            if self.same_origin && method != Method::GET {
                req = req.header("sec-fetch-site", "same-origin");
            }
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
            text,
        }
    }

    /// A raw request builder to this client's host (for malformed bodies and odd headers).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            req = req
                .header("cookie", format!("__Host-rampart_session={session}"))
                .header("sec-fetch-site", "same-origin");
        }
        req
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.request(Method::DELETE, path, None).await
    }

    /// Signs in and returns a client carrying the session cookie.
    pub async fn login(&self, email: &str, password: &str) -> Self {
        let r = self
            .anonymous()
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status, 200, "login failed: {r:?}");
        self.with_session_of(&r)
    }

    /// The session cookie a response sets, if any.
    pub fn session_cookie(r: &Resp) -> Option<String> {
        r.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("__Host-rampart_session="))
            .and_then(|v| v.split(';').next())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// This client carrying the session a sign-in response set.
    pub fn with_session_of(&self, r: &Resp) -> Self {
        let cookie = Self::session_cookie(r)
            .unwrap_or_else(|| panic!("the response sets no session cookie: {r:?}"));
        Self {
            session: Some(cookie),
            token: None,
            ..self.clone()
        }
    }
}
