//! Plain JavaScript values, read and built by name: the one place that
//! reads a field, sets a handler, or builds an object. Every adapter and
//! the API use these.

use std::cell::Cell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use crate::core::plan::MAX_SAFE_INTEGER;

/// `object[name]`, `undefined` when it cannot be read (or `object` is not
/// an object).
pub fn field(object: &JsValue, name: &str) -> JsValue {
    if object.is_object() || object.is_function() {
        Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

#[wasm_bindgen]
extern "C" {
    /// `Reflect.getPrototypeOf`, which a Proxy's trap may make throw.
    #[wasm_bindgen(js_namespace = Reflect, js_name = getPrototypeOf, catch)]
    fn prototype_of(object: &JsValue) -> Result<JsValue, JsValue>;
    /// `Object.entries`, which a getter or a Proxy's trap may make throw.
    #[wasm_bindgen(js_namespace = Object, js_name = entries, catch)]
    fn entries_of(object: &JsValue) -> Result<Array, JsValue>;
}

/// Why [`string_entries`] could not read an object.
pub enum EntriesProblem {
    /// Not a plain object (`{...}`, `Object.create(null)`) of any realm:
    /// a `Map`, a `Headers`, a class's instance, an array, a function.
    NotPlain,
    /// The value of this name is not a string.
    NotString(String),
    /// Reading it threw (a getter, a Proxy's trap): what it threw.
    Threw(JsValue),
}

/// The entries of a plain object whose values are all strings, each read
/// once. A page's getter that throws is a problem of the value, not an
/// exception through the module (which guard.js would take for a trap).
pub fn string_entries(value: &JsValue) -> Result<Vec<(String, String)>, EntriesProblem> {
    if !value.is_object() || value.is_function() || Array::is_array(value) {
        return Err(EntriesProblem::NotPlain);
    }
    let threw = EntriesProblem::Threw;
    let prototype = prototype_of(value).map_err(threw)?;
    if !prototype.is_null() && !prototype_of(&prototype).map_err(threw)?.is_null() {
        return Err(EntriesProblem::NotPlain);
    }
    let mut out = Vec::new();
    for entry in entries_of(value).map_err(threw)?.iter() {
        let pair: Array = entry.unchecked_into();
        let name = pair.get(0).as_string().unwrap_or_default();
        match pair.get(1).as_string() {
            Some(text) => out.push((name, text)),
            None => return Err(EntriesProblem::NotString(name)),
        }
    }
    Ok(out)
}

/// Whether a value is given (neither `undefined` nor `null`).
pub fn present(value: &JsValue) -> bool {
    !value.is_undefined() && !value.is_null()
}

/// A string field.
pub fn string(object: &JsValue, name: &str) -> Option<String> {
    field(object, name).as_string()
}

/// An optional string field: `Some(None)` when absent or `null`, `None`
/// when it holds something else.
pub fn optional_string(object: &JsValue, name: &str) -> Option<Option<String>> {
    let value = field(object, name);
    if !present(&value) {
        return Some(None);
    }
    value.as_string().map(Some)
}

/// A number as a whole, non-negative number that JavaScript holds exactly.
pub fn as_whole(value: &JsValue) -> Option<u64> {
    let n = value.as_f64()?;
    (n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER as f64).then_some(n as u64)
}

/// A whole, non-negative number field.
pub fn whole(object: &JsValue, name: &str) -> Option<u64> {
    as_whole(&field(object, name))
}

/// A whole number field that fits a `u32`.
pub fn whole_u32(object: &JsValue, name: &str) -> Option<u32> {
    u32::try_from(whole(object, name)?).ok()
}

/// Reads the fields of one object into a struct built in one expression,
/// checked once at the end: a missing or mistyped field gives its type's
/// empty value and marks the read failed. (With a `?` after each field,
/// every early return drops the strings read before it: one drop ladder
/// per field, which the wasm pays for in each reader.)
///
/// ```ignore
/// let fields = Fields::of(&value);
/// let pair = (fields.string("id"), fields.whole("size"));
/// let pair: Option<(String, u64)> = fields.checked(pair);
/// ```
pub struct Fields<'a> {
    object: &'a JsValue,
    failed: Cell<bool>,
}

impl<'a> Fields<'a> {
    /// A reader of `object`'s fields, none failed yet.
    pub fn of(object: &'a JsValue) -> Self {
        Self {
            object,
            failed: Cell::new(false),
        }
    }

    /// `value` if every field read so far was there and of its type.
    pub fn checked<T>(&self, value: T) -> Option<T> {
        (!self.failed.get()).then_some(value)
    }

    /// `value`'s content, or `T::default()` with the read marked failed.
    fn or_fail<T: Default>(&self, value: Option<T>) -> T {
        value.unwrap_or_else(|| {
            self.failed.set(true);
            T::default()
        })
    }

    /// The field itself, `undefined` when absent.
    pub fn raw(&self, name: &str) -> JsValue {
        field(self.object, name)
    }

    /// A string field ([`string`]).
    pub fn string(&self, name: &str) -> String {
        self.or_fail(string(self.object, name))
    }

    /// An optional string field ([`optional_string`]).
    pub fn optional_string(&self, name: &str) -> Option<String> {
        self.or_fail(optional_string(self.object, name))
    }

    /// A whole, non-negative number field ([`whole`]).
    pub fn whole(&self, name: &str) -> u64 {
        self.or_fail(whole(self.object, name))
    }

    /// A whole number field that fits a `u32` ([`whole_u32`]).
    pub fn whole_u32(&self, name: &str) -> u32 {
        self.or_fail(whole_u32(self.object, name))
    }

    /// A number field, any number.
    pub fn number(&self, name: &str) -> f64 {
        self.or_fail(self.raw(name).as_f64())
    }

    /// Whether the field is truthy; never fails.
    pub fn truthy(&self, name: &str) -> bool {
        self.raw(name).is_truthy()
    }

    /// `value` read by the caller; `None` marks the read failed.
    pub fn require<T: Default>(&self, value: Option<T>) -> T {
        self.or_fail(value)
    }
}

/// Sets `target[name] = value` (one import for every event handler and
/// field, instead of one per typed setter).
pub fn set(target: &JsValue, name: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(name), value);
}

/// `options` with `defaults` where it names none: a new object whose
/// prototype is `options`, so that every option it has is read through it,
/// its class's methods too (an `onProgress` defined on a class), and
/// nothing of the caller's object is changed. An option whose reading
/// throws gets no default: reading the options then says so.
pub fn with_defaults(options: &JsValue, defaults: &[(&str, &str)]) -> JsValue {
    let merged = match options.is_object() {
        true => Object::create(options.unchecked_ref()),
        false => Object::new(),
    };
    for (name, value) in defaults {
        if Reflect::get(&merged, &JsValue::from_str(name)).is_ok_and(|given| !present(&given)) {
            set(&merged, name, &JsValue::from_str(value));
        }
    }
    merged.into()
}

/// Builds a plain object, one field at a time, in the given order.
pub struct Builder(Object);

impl Builder {
    /// An empty object.
    pub fn new() -> Self {
        Builder(Object::new())
    }

    /// Sets `name` to `value`.
    pub fn set(self, name: &str, value: &JsValue) -> Self {
        set(&self.0, name, value);
        self
    }

    /// Sets `name` to a string.
    pub fn str(self, name: &str, value: &str) -> Self {
        self.set(name, &JsValue::from_str(value))
    }

    /// Sets `name` to a number.
    pub fn num(self, name: &str, value: f64) -> Self {
        self.set(name, &JsValue::from_f64(value))
    }

    /// Sets `name` to a string, or to `null` for `None`.
    pub fn str_or_null(self, name: &str, value: Option<&str>) -> Self {
        self.set(name, &value.map_or(JsValue::NULL, JsValue::from_str))
    }

    /// Sets `name` to `value` when `when`; else leaves it out.
    pub fn set_if(self, name: &str, when: bool, value: &JsValue) -> Self {
        match when {
            true => self.set(name, value),
            false => self,
        }
    }

    /// Sets `name` to a string; leaves it out for `None`.
    pub fn str_if(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.str(name, value),
            None => self,
        }
    }

    /// The object.
    pub fn done(self) -> JsValue {
        self.0.into()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}
