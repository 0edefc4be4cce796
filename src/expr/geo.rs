//! The geospatial functions (ASA-SEMANTICS.md §6): `CreatePoint`,
//! `CreateLineString` and `CreatePolygon` build GeoJSON records;
//! `ST_DISTANCE`, `ST_WITHIN`, `ST_INTERSECTS` and `ST_OVERLAPS` read two
//! geometries and measure or relate them. They are registered in the
//! scalar-function table of [`super::functions`].
//!
//! Representations:
//! - A geometry value is a GeoJSON record (`{"type": "Point",
//!   "coordinates": [lon, lat]}`; Point, LineString and Polygon), the same
//!   as a JSON string, or a WKT string (`POINT(lon lat)`,
//!   `POLYGON((…))`, any WKT type). Coordinates are longitude first, as in
//!   GeoJSON, WKT and ASA; `CreatePoint(lat, lon)` alone takes latitude
//!   first, as ASA documents.
//! - As in ASA's examples, a GeoJSON polygon may give its single ring
//!   without the outer nesting (`[[x, y], …]` for `[[[x, y], …]]`), and a
//!   ring that does not repeat its first position is closed.
//!
//! Semantics:
//! - `ST_DISTANCE` is the geodesic distance on the WGS84 ellipsoid in
//!   metres (Karney's algorithm, through the `geo` crate), between two
//!   points; as ASA documents, a polygon on either side gives 0.
//! - The predicates relate the geometries in the plane of their
//!   coordinates (longitude, latitude), as ASA does from compatibility
//!   level 1.2 on ("geometric projection"), with the DE-9IM definitions of
//!   `geo`'s `Relate`. They return bigint 1 or 0.
//! - A NULL argument gives NULL. A value that is not a geometry (wrong type,
//!   bad WKT or GeoJSON, non-finite coordinates) is a conversion error
//!   naming the function; a geometry of the wrong kind (`CreateLineString`
//!   of a polygon, `ST_DISTANCE` of a line) is an argument error. Nothing
//!   here panics.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

use ::geo::{
    Coord, CoordsIter, Distance, Geodesic, Geometry, LineString, Point, Polygon, Relate,
};
use wkt::TryFromWkt;

use super::cast::{describe, to_f64};
use super::EvalError;
use crate::types::{Name, Record, Value};

// ---------------------------------------------------------------------------
// Constructors.

/// `CreatePoint(lat, lon)`: `{"type": "Point", "coordinates": [lon, lat]}`.
/// Latitude must lie in [-90, 90]; both must be finite numbers.
pub fn create_point(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "CreatePoint";
    let [lat, lon] = args else {
        return Err(arity(NAME, "2", args.len()));
    };
    let (Some(lat), Some(lon)) = (to_f64(lat, NAME)?, to_f64(lon, NAME)?) else {
        return Ok(Value::Null);
    };
    let point = Point::new(lon, lat);
    check_finite(NAME, &Geometry::Point(point))?;
    check_latitude(NAME, point)?;
    Ok(geojson_record("Point", position_value(point.0)))
}

/// `CreateLineString(p1, p2, …)`: a GeoJSON LineString through the points
/// in order (at least two).
pub fn create_line_string(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "CreateLineString";
    if args.len() < 2 {
        return Err(arity(NAME, "at least 2", args.len()));
    }
    let Some(points) = read_points(NAME, args)? else {
        return Ok(Value::Null);
    };
    Ok(geojson_record(
        "LineString",
        Value::Array(points.into_iter().map(position_value).collect()),
    ))
}

/// `CreatePolygon(p1, p2, …, p1)`: a GeoJSON Polygon with one ring. ASA
/// requires the last point to repeat the first and at least three corners,
/// so at least four points; holes cannot be given.
pub fn create_polygon(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "CreatePolygon";
    if args.len() < 4 {
        return Err(arity(NAME, "at least 4", args.len()));
    }
    let Some(points) = read_points(NAME, args)? else {
        return Ok(Value::Null);
    };
    if points.first() != points.last() {
        return Err(EvalError::argument(format!(
            "{NAME}: the last point must equal the first to close the ring"
        )));
    }
    let ring = Value::Array(points.into_iter().map(position_value).collect());
    Ok(geojson_record("Polygon", Value::Array(vec![ring])))
}

/// The arguments as points, or `None` when one is NULL.
fn read_points(name: &str, args: &[Value]) -> Result<Option<Vec<Coord>>, EvalError> {
    let mut points = Vec::with_capacity(args.len());
    for arg in args {
        match read_geometry(name, arg)? {
            None => return Ok(None),
            Some(Geometry::Point(p)) => points.push(p.0),
            Some(other) => {
                return Err(EvalError::argument(format!(
                    "{name}: expected points, got a {}",
                    kind(&other)
                )))
            }
        }
    }
    Ok(Some(points))
}

fn geojson_record(kind: &str, coordinates: Value) -> Value {
    Value::Record(Record::from_fields([
        (Name::from("type"), Value::str(kind)),
        (Name::from("coordinates"), coordinates),
    ]))
}

fn position_value(c: Coord) -> Value {
    Value::Array(vec![Value::Float(c.x), Value::Float(c.y)])
}

// ---------------------------------------------------------------------------
// Measures and predicates.

/// `ST_DISTANCE(a, b)`: geodesic metres between two points (WGS84); 0 when
/// either is a polygon, as ASA documents.
pub fn st_distance(args: &[Value]) -> Result<Value, EvalError> {
    const NAME: &str = "ST_DISTANCE";
    let Some((a, b)) = read_pair(NAME, args)? else {
        return Ok(Value::Null);
    };
    match (&a, &b) {
        (Geometry::Point(a), Geometry::Point(b)) => {
            check_latitude(NAME, *a)?;
            check_latitude(NAME, *b)?;
            Ok(Value::Float(Geodesic.distance(*a, *b)))
        }
        _ if is_areal(&a) || is_areal(&b) => Ok(Value::Float(0.0)),
        _ => Err(EvalError::argument(format!(
            "{NAME}: distance is defined between points, got a {} and a {}",
            kind(&a),
            kind(&b)
        ))),
    }
}

/// `ST_WITHIN(g, container)`: 1 when `g` lies within `container`.
pub fn st_within(args: &[Value]) -> Result<Value, EvalError> {
    relate("ST_WITHIN", args, |m| m.is_within())
}

/// `ST_INTERSECTS(a, b)`: 1 when the geometries share any point.
pub fn st_intersects(args: &[Value]) -> Result<Value, EvalError> {
    relate("ST_INTERSECTS", args, |m| m.is_intersects())
}

/// `ST_OVERLAPS(a, b)`: 1 when the geometries (of one dimension) share
/// part of their interiors and neither contains the other.
pub fn st_overlaps(args: &[Value]) -> Result<Value, EvalError> {
    relate("ST_OVERLAPS", args, |m| m.is_overlaps())
}

fn relate(
    name: &str,
    args: &[Value],
    holds: fn(&::geo::relate::IntersectionMatrix) -> bool,
) -> Result<Value, EvalError> {
    let Some((a, b)) = read_pair(name, args)? else {
        return Ok(Value::Null);
    };
    Ok(Value::Bigint(i64::from(holds(&a.relate(&b)))))
}

fn read_pair(name: &str, args: &[Value]) -> Result<Option<(Geometry, Geometry)>, EvalError> {
    let [a, b] = args else {
        return Err(arity(name, "2", args.len()));
    };
    let a = read_geometry(name, a)?;
    let b = read_geometry(name, b)?;
    Ok(a.zip(b))
}

fn is_areal(g: &Geometry) -> bool {
    matches!(
        g,
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) | Geometry::Rect(_) | Geometry::Triangle(_)
    )
}

// ---------------------------------------------------------------------------
// Reading geometries.

/// The geometry a value holds; `None` for NULL.
fn read_geometry(name: &str, v: &Value) -> Result<Option<Geometry>, EvalError> {
    let geometry = match v {
        Value::Null => return Ok(None),
        Value::Record(record) => from_geojson(name, record, v)?,
        Value::String(text) => from_text(name, text, v)?,
        _ => return Err(not_a_geometry(name, v, "expected a GeoJSON record or a WKT string")),
    };
    check_finite(name, &geometry)?;
    Ok(Some(geometry))
}

/// A GeoJSON object in a string, or WKT.
fn from_text(name: &str, text: &str, v: &Value) -> Result<Geometry, EvalError> {
    let text = text.trim();
    if text.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| not_a_geometry(name, v, &format!("invalid JSON: {e}")))?;
        return match Value::from_json(json, true) {
            Value::Record(record) => from_geojson(name, &record, v),
            _ => Err(not_a_geometry(name, v, "expected a GeoJSON object")),
        };
    }
    Geometry::<f64>::try_from_wkt_str(text)
        .map_err(|e| not_a_geometry(name, v, &format!("invalid WKT: {e}")))
}

/// A GeoJSON Point, LineString or Polygon record.
fn from_geojson(name: &str, record: &Record, v: &Value) -> Result<Geometry, EvalError> {
    let Some(Value::String(kind)) = record.get("type") else {
        return Err(not_a_geometry(name, v, "a GeoJSON geometry needs a string \"type\""));
    };
    let Some(coordinates) = record.get("coordinates") else {
        return Err(not_a_geometry(name, v, "a GeoJSON geometry needs \"coordinates\""));
    };
    let bad = |why: &str| not_a_geometry(name, v, why);
    if kind.eq_ignore_ascii_case("Point") {
        let c = position(coordinates).ok_or_else(|| bad("a Point needs [lon, lat]"))?;
        Ok(Geometry::Point(Point(c)))
    } else if kind.eq_ignore_ascii_case("LineString") {
        match positions(coordinates) {
            Some(line) if line.len() >= 2 => Ok(Geometry::LineString(LineString::new(line))),
            _ => Err(bad("a LineString needs at least 2 positions")),
        }
    } else if kind.eq_ignore_ascii_case("Polygon") {
        polygon_rings(coordinates)
            .and_then(|rings| {
                let mut rings = rings.into_iter().map(LineString::new);
                let exterior = rings.next()?;
                Some(Geometry::Polygon(Polygon::new(exterior, rings.collect())))
            })
            .ok_or_else(|| bad("a Polygon needs rings of at least 3 positions"))
    } else {
        Err(bad("supported GeoJSON types are Point, LineString and Polygon"))
    }
}

/// A Polygon's rings: `[[pos, …], …]`, or one ring written `[pos, …]` as
/// in ASA's own examples. Each ring has at least 3 positions; `geo` closes
/// a ring that does not repeat its first position.
fn polygon_rings(coordinates: &Value) -> Option<Vec<Vec<Coord>>> {
    let Value::Array(items) = coordinates else {
        return None;
    };
    let rings = if position(items.first()?).is_some() {
        vec![positions(coordinates)?]
    } else {
        items.iter().map(positions).collect::<Option<Vec<_>>>()?
    };
    rings.iter().all(|ring| ring.len() >= 3).then_some(rings)
}

/// `[x, y]` or `[x, y, z]` (z is ignored, as GeoJSON allows).
fn position(v: &Value) -> Option<Coord> {
    let Value::Array(items) = v else {
        return None;
    };
    match items.as_slice() {
        [x, y] | [x, y, _] => Some(Coord {
            x: number(x)?,
            y: number(y)?,
        }),
        _ => None,
    }
}

fn positions(v: &Value) -> Option<Vec<Coord>> {
    let Value::Array(items) = v else {
        return None;
    };
    items.iter().map(position).collect()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Bigint(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Checks and errors.

fn check_finite(name: &str, g: &Geometry) -> Result<(), EvalError> {
    if g.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()) {
        Ok(())
    } else {
        Err(EvalError::conversion(format!(
            "{name}: coordinates must be finite numbers"
        )))
    }
}

fn check_latitude(name: &str, p: Point) -> Result<(), EvalError> {
    if (-90.0..=90.0).contains(&p.y()) {
        Ok(())
    } else {
        Err(EvalError::argument(format!(
            "{name}: latitude {} is outside [-90, 90]",
            p.y()
        )))
    }
}

fn not_a_geometry(name: &str, v: &Value, why: &str) -> EvalError {
    EvalError::conversion(format!(
        "{name}: cannot read {} as a geometry: {why}",
        describe(v)
    ))
}

fn arity(name: &str, expected: &str, got: usize) -> EvalError {
    EvalError::argument(format!("{name}: expected {expected} arguments, got {got}"))
}

fn kind(g: &Geometry) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) => "Line",
        Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}

