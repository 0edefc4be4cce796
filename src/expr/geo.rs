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

use ::geo::{Coord, CoordsIter, Distance, Geodesic, Geometry, LineString, Point, Polygon, Relate};
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
        Geometry::Polygon(_)
            | Geometry::MultiPolygon(_)
            | Geometry::Rect(_)
            | Geometry::Triangle(_)
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
        _ => {
            return Err(not_a_geometry(
                name,
                v,
                "expected a GeoJSON record or a WKT string",
            ))
        }
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
        return Err(not_a_geometry(
            name,
            v,
            "a GeoJSON geometry needs a string \"type\"",
        ));
    };
    let Some(coordinates) = record.get("coordinates") else {
        return Err(not_a_geometry(
            name,
            v,
            "a GeoJSON geometry needs \"coordinates\"",
        ));
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
        Err(bad(
            "supported GeoJSON types are Point, LineString and Polygon",
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::EvalErrorKind;
    use proptest::prelude::*;

    fn s(t: &str) -> Value {
        Value::str(t)
    }
    fn fl(x: f64) -> Value {
        Value::Float(x)
    }
    /// A GeoJSON record parsed from JSON text, as an input field would be.
    fn json(text: &str) -> Value {
        Value::from_json(serde_json::from_str(text).expect("test JSON"), true)
    }
    fn ok(f: Function, args: &[Value]) -> Value {
        f(args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
    }
    fn metres(v: Value) -> f64 {
        match v {
            Value::Float(m) => m,
            other => panic!("expected a float distance, got {other:?}"),
        }
    }
    fn err(f: Function, args: &[Value]) -> EvalError {
        match f(args) {
            Err(e) => e,
            Ok(v) => panic!("{args:?} should fail, gave {v:?}"),
        }
    }
    type Function = fn(&[Value]) -> Result<Value, EvalError>;
    const ONE: Value = Value::Bigint(1);
    const ZERO: Value = Value::Bigint(0);
    const SQUARE_0_10: &str = "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))";

    #[test]
    fn distance_along_the_equator_is_the_semi_major_axis_times_the_angle() {
        // On the equator the geodesic follows the equator: a · Δλ.
        let one_degree = 6_378_137.0 * 1f64.to_radians();
        let d = metres(ok(st_distance, &[s("POINT(0 0)"), s("POINT(1 0)")]));
        assert!((d - one_degree).abs() < 1e-6, "{d} vs {one_degree}");
    }

    #[test]
    fn distances_between_cities_match_published_geodesics() {
        // GeographicLib's worked example: JFK (40.6 N, 73.8 W) to LHR
        // (51.6 N, 0.5 W) is 5551.759400 km on WGS84.
        let jfk = ok(create_point, &[fl(40.6), fl(-73.8)]);
        let lhr = ok(create_point, &[fl(51.6), fl(-0.5)]);
        let d = metres(ok(st_distance, &[jfk.clone(), lhr.clone()]));
        assert!((d - 5_551_759.400).abs() < 0.01, "{d}");
        // Symmetric, and the same from WKT and GeoJSON text.
        let back = metres(ok(
            st_distance,
            &[
                s(r#"{"type": "Point", "coordinates": [-0.5, 51.6]}"#),
                s("POINT(-73.8 40.6)"),
            ],
        ));
        assert!((back - d).abs() < 1e-6, "{back} vs {d}");
        // A pole to the equator is a quarter meridian, 10001.965729 km.
        let quarter = metres(ok(st_distance, &[s("POINT(0 90)"), s("POINT(0 0)")]));
        assert!((quarter - 10_001_965.729).abs() < 0.01, "{quarter}");
        assert_eq!(ok(st_distance, &[jfk.clone(), jfk]), fl(0.0));
    }

    #[test]
    fn distance_with_a_polygon_is_zero_and_lines_are_rejected() {
        let far = s("POINT(50 50)");
        assert_eq!(ok(st_distance, &[far.clone(), s(SQUARE_0_10)]), fl(0.0));
        let e = err(st_distance, &[s("LINESTRING(0 0, 1 1)"), far]);
        assert_eq!(e.kind, EvalErrorKind::InvalidArgument);
        assert!(e.message.starts_with("ST_DISTANCE:"), "{e}");
        let e = err(st_distance, &[s("POINT(0 91)"), s("POINT(0 0)")]);
        assert!(e.message.contains("latitude 91"), "{e}");
    }

    #[test]
    fn points_within_polygons_as_the_reference_example() {
        let within = |point: &str, polygon: &str| ok(st_within, &[json(point), json(polygon)]);
        assert_eq!(
            within(
                r#"{"type":"Point", "coordinates": [76.6, 10.1]}"#,
                r#"{"type":"Polygon", "coordinates": [[ [0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0] ]]}"#
            ),
            ZERO
        );
        assert_eq!(
            within(
                r#"{"type":"Point", "coordinates": [15.0, 15.0]}"#,
                r#"{"type":"Polygon", "coordinates": [[ [10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0], [10.0, 10.0] ]]}"#
            ),
            ONE
        );
    }

    #[test]
    fn within_excludes_the_boundary_which_intersects_includes() {
        let edge = s("POINT(10 5)");
        assert_eq!(ok(st_within, &[edge.clone(), s(SQUARE_0_10)]), ZERO);
        assert_eq!(ok(st_intersects, &[edge, s(SQUARE_0_10)]), ONE);
        // A polygon inside another is within it, not the reverse.
        let inner = s("POLYGON((2 2, 4 2, 4 4, 2 4, 2 2))");
        assert_eq!(ok(st_within, &[inner.clone(), s(SQUARE_0_10)]), ONE);
        assert_eq!(ok(st_within, &[s(SQUARE_0_10), inner]), ZERO);
    }

    #[test]
    fn geofence_points_from_wkt() {
        let fence = s("POLYGON((-122.13326028450979 47.6409833866794,-122.13261655434621 47.6409833866794,-122.13261655434621 47.64061471602751,-122.13326028450979 47.64061471602751,-122.13326028450979 47.6409833866794))");
        let inside = s("POINT(-122.13288797982818 47.64082002051315)");
        let outside = s("POINT(-122.13341048821462 47.64043760861279)");
        assert_eq!(ok(st_within, &[inside, fence.clone()]), ONE);
        assert_eq!(ok(st_within, &[outside, fence]), ZERO);
    }

    #[test]
    fn line_intersections() {
        let paved = json(
            r#"{"type": "LineString", "coordinates": [[-10.0, 0.0], [0.0, 0.0], [10.0, 0.0]]}"#,
        );
        let crossing = json(
            r#"{"type": "LineString", "coordinates": [[0.0, 10.0], [0.0, 0.0], [0.0, -10.0]]}"#,
        );
        let parallel = json(
            r#"{"type": "LineString", "coordinates": [[-10.0, 10.0], [0.0, 10.0], [10.0, 10.0]]}"#,
        );
        assert_eq!(ok(st_intersects, &[paved.clone(), crossing.clone()]), ONE);
        assert_eq!(ok(st_intersects, &[crossing, paved.clone()]), ONE);
        assert_eq!(ok(st_intersects, &[paved.clone(), parallel]), ZERO);
        // Touching at an end point counts; a near miss does not.
        assert_eq!(
            ok(st_intersects, &[paved.clone(), s("LINESTRING(10 0, 20 5)")]),
            ONE
        );
        assert_eq!(
            ok(st_intersects, &[paved, s("LINESTRING(10.001 0, 20 5)")]),
            ZERO
        );
    }

    #[test]
    fn polygon_overlaps() {
        let a = s(SQUARE_0_10);
        let overlaps = |b: &str| ok(st_overlaps, &[a.clone(), s(b)]);
        assert_eq!(overlaps("POLYGON((5 5, 15 5, 15 15, 5 15, 5 5))"), ONE);
        assert_eq!(
            overlaps("POLYGON((30 30, 40 30, 40 40, 30 40, 30 30))"),
            ZERO
        );
        // Containment, equality and a shared edge are not overlaps.
        assert_eq!(overlaps("POLYGON((2 2, 4 2, 4 4, 2 4, 2 2))"), ZERO);
        assert_eq!(overlaps(SQUARE_0_10), ZERO);
        assert_eq!(overlaps("POLYGON((10 0, 20 0, 20 10, 10 10, 10 0))"), ZERO);
    }

    #[test]
    fn polygons_as_asa_prints_them_single_nested_and_unclosed() {
        // ST_OVERLAPS' reference example: one nesting level, and a storm
        // ring that never returns to its start.
        let datacenter = json(
            r#"{"type":"Polygon", "coordinates": [ [0.0, 0.0], [20.0, 0.0], [20.0, 20.0], [0.0, 20.0], [0.0, 0.0] ]}"#,
        );
        let storm = json(
            r#"{"type":"Polygon", "coordinates": [ [10.0, 10.0], [40.0, 10.0], [40.0, 40.0], [40.0, 20.0], [40.0, 40.0] ]}"#,
        );
        assert_eq!(ok(st_overlaps, &[datacenter, storm]), ONE);
    }

    #[test]
    fn constructors_build_geojson_longitude_first() {
        let point = ok(create_point, &[fl(3.0), fl(-10.2)]);
        assert_eq!(
            point.to_json().to_string(),
            r#"{"type":"Point","coordinates":[-10.2,3.0]}"#
        );
        let line = ok(
            create_line_string,
            &[
                point.clone(),
                ok(create_point, &[fl(10.0), fl(10.0)]),
                s("POINT(10.5 10.5)"),
            ],
        );
        assert_eq!(
            line.to_json().to_string(),
            r#"{"type":"LineString","coordinates":[[-10.2,3.0],[10.0,10.0],[10.5,10.5]]}"#
        );
        let polygon = ok(
            create_polygon,
            &[
                point.clone(),
                ok(create_point, &[fl(10.0), fl(10.0)]),
                ok(create_point, &[fl(10.5), fl(10.5)]),
                point.clone(),
            ],
        );
        assert_eq!(
            polygon.to_json().to_string(),
            r#"{"type":"Polygon","coordinates":[[[-10.2,3.0],[10.0,10.0],[10.5,10.5],[-10.2,3.0]]]}"#
        );
        // What they build reads back as a geometry.
        assert_eq!(ok(st_intersects, &[point, polygon]), ONE);
        // Bigint arguments convert to float.
        assert_eq!(
            ok(create_point, &[Value::Bigint(1), Value::Bigint(2)])
                .to_json()
                .to_string(),
            r#"{"type":"Point","coordinates":[2.0,1.0]}"#
        );
    }

    #[test]
    fn null_arguments_give_null() {
        let p = s("POINT(1 1)");
        assert_eq!(ok(create_point, &[Value::Null, fl(1.0)]), Value::Null);
        assert_eq!(
            ok(create_line_string, &[p.clone(), Value::Null]),
            Value::Null
        );
        assert_eq!(ok(st_distance, &[Value::Null, p.clone()]), Value::Null);
        assert_eq!(ok(st_within, &[p.clone(), Value::Null]), Value::Null);
        assert_eq!(ok(st_intersects, &[Value::Null, Value::Null]), Value::Null);
        assert_eq!(ok(st_overlaps, &[p, Value::Null]), Value::Null);
    }

    #[test]
    fn bad_arguments_are_errors_naming_the_function() {
        let p = s("POINT(1 1)");
        let cases: [(Function, Vec<Value>, &str, EvalErrorKind); 12] = [
            (
                st_within,
                vec![s("POINT(1"), p.clone()],
                "ST_WITHIN: cannot read nvarchar(max) 'POINT(1' as a geometry: invalid WKT",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_intersects,
                vec![Value::Bigint(3), p.clone()],
                "ST_INTERSECTS: cannot read bigint 3",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_overlaps,
                vec![s("{not json"), p.clone()],
                "ST_OVERLAPS: cannot read nvarchar(max) '{not json' as a geometry: invalid JSON",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_within,
                vec![json(r#"{"type": "Point"}"#), p.clone()],
                "needs \"coordinates\"",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_within,
                vec![
                    json(r#"{"type": "Circle", "coordinates": [0, 0]}"#),
                    p.clone(),
                ],
                "supported GeoJSON types",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_within,
                vec![
                    json(r#"{"type": "Point", "coordinates": ["a", 0]}"#),
                    p.clone(),
                ],
                "a Point needs [lon, lat]",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_within,
                vec![
                    json(r#"{"type": "Polygon", "coordinates": [[0, 0], [1, 1]]}"#),
                    p.clone(),
                ],
                "rings of at least 3",
                EvalErrorKind::TypeConversion,
            ),
            (
                st_within,
                vec![p.clone()],
                "ST_WITHIN: expected 2 arguments, got 1",
                EvalErrorKind::InvalidArgument,
            ),
            (
                create_point,
                vec![fl(f64::NAN), fl(0.0)],
                "CreatePoint: coordinates must be finite",
                EvalErrorKind::TypeConversion,
            ),
            (
                create_point,
                vec![fl(-90.5), fl(0.0)],
                "CreatePoint: latitude -90.5 is outside",
                EvalErrorKind::InvalidArgument,
            ),
            (
                create_line_string,
                vec![p.clone(), s(SQUARE_0_10)],
                "CreateLineString: expected points, got a Polygon",
                EvalErrorKind::InvalidArgument,
            ),
            (
                create_polygon,
                vec![
                    s("POINT(0 0)"),
                    s("POINT(1 0)"),
                    s("POINT(1 1)"),
                    s("POINT(0 1)"),
                ],
                "CreatePolygon: the last point must equal the first",
                EvalErrorKind::InvalidArgument,
            ),
        ];
        for (f, args, message, kind) in cases {
            let e = err(f, &args);
            assert!(
                e.message.contains(message),
                "{e} does not contain {message}"
            );
            assert_eq!(e.kind, kind, "{e}");
        }
        assert_eq!(
            err(create_point, &[s("north"), fl(0.0)]).kind,
            EvalErrorKind::TypeConversion
        );
    }

    #[test]
    fn other_wkt_types_relate_too() {
        let inside = s("POINT(2 2)");
        let two_squares =
            s("MULTIPOLYGON(((0 0, 3 0, 3 3, 0 3, 0 0)), ((5 5, 6 5, 6 6, 5 6, 5 5)))");
        assert_eq!(ok(st_within, &[inside.clone(), two_squares.clone()]), ONE);
        assert_eq!(ok(st_within, &[s("POINT(4 4)"), two_squares]), ZERO);
        let collection = s("GEOMETRYCOLLECTION(POINT(2 2), LINESTRING(0 0, 1 1))");
        assert_eq!(ok(st_within, &[collection, s(SQUARE_0_10)]), ONE);
        // An empty geometry relates to nothing; it is not an error.
        for empty in ["POINT EMPTY", "POLYGON EMPTY", "GEOMETRYCOLLECTION EMPTY"] {
            assert_eq!(
                ok(st_intersects, &[s(empty), inside.clone()]),
                ZERO,
                "{empty}"
            );
        }
    }

    fn ring() -> impl Strategy<Value = Vec<(i8, i8)>> {
        prop::collection::vec((-4i8..=4, -4i8..=4), 3..7)
    }

    /// Any geometry on a small grid, degenerate and self-crossing ones
    /// included, as WKT.
    fn geometry() -> impl Strategy<Value = String> {
        let coords = |ps: &[(i8, i8)]| {
            ps.iter()
                .map(|(x, y)| format!("{x} {y}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        prop_oneof![
            (-4i8..=4, -4i8..=4).prop_map(|(x, y)| format!("POINT({x} {y})")),
            prop::collection::vec((-4i8..=4, -4i8..=4), 2..6)
                .prop_map(move |ps| format!("LINESTRING({})", coords(&ps))),
            ring().prop_map(move |mut ps| {
                ps.push(ps[0]);
                format!("POLYGON(({}))", coords(&ps))
            }),
        ]
    }

    proptest! {
        /// The predicates answer for any pair without panicking, agree
        /// with each other, and intersects and overlaps are symmetric.
        #[test]
        fn predicates_are_total_and_consistent(a in geometry(), b in geometry()) {
            let args = [s(&a), s(&b)];
            let swapped = [s(&b), s(&a)];
            let within = ok(st_within, &args);
            let intersects = ok(st_intersects, &args);
            let overlaps = ok(st_overlaps, &args);
            prop_assert_eq!(&intersects, &ok(st_intersects, &swapped));
            prop_assert_eq!(&overlaps, &ok(st_overlaps, &swapped));
            if within == ONE || overlaps == ONE {
                prop_assert_eq!(&intersects, &ONE);
            }
            if overlaps == ONE {
                prop_assert_eq!(&within, &ZERO);
            }
        }
    }
}
