//! Checks real HTTP responses against the OpenAPI document the server serves: the status is
//! documented for the operation, the content type is one the document names, and the body
//! fits the schema. Stricter than JSON Schema in one way, on purpose: an object schema with
//! `properties` is closed, so a field the server sends but the document does not name fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

/// The document, for resolving references and finding operations.
pub struct Document(pub Value);

/// One response as received: what the check needs of it.
pub struct Received {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Received {
    /// Reads `response` whole.
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
        let body = response.bytes().await.expect("body").to_vec();
        Self {
            status,
            content_type,
            body,
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

impl Document {
    /// The value a local `$ref` (`#/a/b`) points to, or `None` if it points nowhere.
    pub fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.0.pointer(pointer)
    }

    /// Follows `$ref`s until a value that is not a reference.
    fn deref<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            value = self
                .resolve(reference)
                .unwrap_or_else(|| panic!("unresolved {reference}"));
        }
        value
    }

    /// Panics unless `received` is a documented answer of `method path` (path as templated in
    /// the document) whose body fits its schema.
    pub fn assert_conforms(&self, method: &str, path: &str, received: &Received) {
        let operation = self.0["paths"][path][method].clone();
        assert!(operation.is_object(), "{method} {path} is not documented");
        let status = received.status.to_string();
        let response = operation["responses"]
            .get(&status)
            .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
        let response = self.deref(response);
        let where_ = format!("{method} {path} {status}");
        match response.get("content").and_then(Value::as_object) {
            None if method == "head" => {}
            None => assert!(
                received.body.is_empty(),
                "{where_}: documented without a body, got {:?}",
                String::from_utf8_lossy(&received.body)
            ),
            Some(content) => {
                let content_type = received
                    .content_type
                    .as_deref()
                    .unwrap_or_else(|| panic!("{where_}: no content type"));
                let media = content.get(content_type).unwrap_or_else(|| {
                    panic!(
                        "{where_}: content type {content_type} is not among {:?}",
                        content.keys().collect::<Vec<_>>()
                    )
                });
                // A HEAD answer has the headers of the GET one, and no body.
                if content_type.ends_with("json") && method != "head" {
                    let body = received.json();
                    if let Err(error) = self.check(&media["schema"], &body, "$") {
                        panic!("{where_}: {error}\nbody: {body}");
                    }
                }
            }
        }
    }

    /// Whether `value` fits `schema` (the subset of JSON Schema the document uses).
    pub fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.deref(schema);
        if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
            let fits = options
                .iter()
                .filter(|option| self.check(option, value, at).is_ok())
                .count();
            if fits != 1 {
                return Err(format!("{at}: fits {fits} of the oneOf options, not 1"));
            }
        }
        if let Some(options) = schema.get("anyOf").and_then(Value::as_array)
            && !options.iter().any(|o| self.check(o, value, at).is_ok())
        {
            return Err(format!("{at}: fits none of the anyOf options"));
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(part, value, at)?;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => return Err(format!("{at}: bad type keyword {types}")),
            };
            if !types.iter().any(|t| is_type(value, t)) {
                return Err(format!("{at}: {value} is not of type {types:?}"));
            }
        }
        if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
            && value.as_f64().is_some_and(|v| v < minimum)
        {
            return Err(format!("{at}: {value} is below {minimum}"));
        }
        if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
            && value.as_f64().is_some_and(|v| v > maximum)
        {
            return Err(format!("{at}: {value} is above {maximum}"));
        }
        if let (Some(object), Some(properties)) = (
            value.as_object(),
            schema.get("properties").and_then(Value::as_object),
        ) {
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{at}: required field {name} is missing"));
                }
            }
            for (name, field) in object {
                let Some(property) = properties.get(name) else {
                    return Err(format!("{at}: field {name} is not in the document"));
                };
                self.check(property, field, &format!("{at}.{name}"))?;
            }
        }
        if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
            for (i, item) in items.iter().enumerate() {
                self.check(schema, item, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }
}

/// Whether `value` is of the JSON Schema type `name`.
fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}
