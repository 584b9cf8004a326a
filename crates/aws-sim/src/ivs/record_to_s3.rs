//! What IVS's auto-record-to-S3 writes under a recording's prefix (docs/aws-facts.md §11.3):
//! `events/recording-started.json` at the start; at the end the HLS media (multivariant and
//! byte-range playlists, one folder per rendition with its playlists and segments), the
//! thumbnails the configuration asks for, and `events/recording-ended.json`, or, when the recording
//! fails, what was written so far and `events/recording-failed.json`.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Value, json};

use crate::model::s3::Bucket;
use crate::model::sessions::Recording;
use crate::s3;

/// `ivs/v1/<account>/<channel_id>/<y>/<m>/<d>/<h>/<min>/<recording_id>` (UTC, unpadded, as in the
/// user guide's example `2020/6/23/20/12`).
pub fn prefix(account: &str, channel_id: &str, at: &DateTime<Utc>, recording_id: &str) -> String {
    format!(
        "ivs/v1/{account}/{channel_id}/{}/{}/{}/{}/{}/{recording_id}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// A recorded rendition: folder name, height, width.
type Rendition = (&'static str, u32, u32);

const LOWEST: Rendition = ("160p30", 160, 284);
const SD_360: Rendition = ("360p30", 360, 640);
const SD: Rendition = ("480p30", 480, 852);
const HD: Rendition = ("720p60", 720, 1280);
const FULL_HD: Rendition = ("1080p60", 1080, 1920);

/// The renditions a configuration's `renditionConfiguration` selects (ALL: the user guide's four).
fn renditions(config: &Value) -> Vec<Rendition> {
    let selection = &config["renditionConfiguration"];
    match selection["renditionSelection"].as_str().unwrap_or("ALL") {
        "NONE" => Vec::new(),
        "CUSTOM" => {
            let wanted: Vec<&str> = selection["renditions"]
                .as_array()
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            [
                ("LOWEST_RESOLUTION", LOWEST),
                ("SD", SD),
                ("HD", HD),
                ("FULL_HD", FULL_HD),
            ]
            .into_iter()
            .filter(|(name, _)| wanted.contains(name))
            .map(|(_, r)| r)
            .collect()
        }
        _ => vec![SD, SD_360, LOWEST, HD],
    }
}

/// (height, width) of thumbnails: the configured resolution, else the source (720p here).
fn thumbnail_size(config: &Value) -> (u32, u32) {
    let rendition = match config["thumbnailConfiguration"]["resolution"].as_str() {
        Some("LOWEST_RESOLUTION") => LOWEST,
        Some("SD") => SD,
        Some("FULL_HD") => FULL_HD,
        _ => HD,
    };
    (rendition.1, rendition.2)
}

fn storage(config: &Value, kind: &str) -> bool {
    let thumbs = &config["thumbnailConfiguration"];
    thumbs["recordingMode"].as_str().unwrap_or("INTERVAL") == "INTERVAL"
        && thumbs["storage"]
            .as_array()
            .is_none_or(|l| l.iter().any(|s| s == kind))
}

/// The `media` object of the metadata files. `byte_range` is false for recording-failed.json.
fn media(config: &Value, duration_ms: Option<i64>, byte_range: bool) -> Value {
    let renditions: Vec<Value> = renditions(config)
        .into_iter()
        .map(|(path, height, width)| {
            let mut out = json!({ "path": path, "playlist": "playlist.m3u8", "resolution_height": height, "resolution_width": width });
            if byte_range {
                out["byte_range_playlist"] = json!("byte-range-variant.m3u8");
            }
            out
        })
        .collect();
    let mut hls =
        json!({ "path": "media/hls", "playlist": "master.m3u8", "renditions": renditions });
    if byte_range {
        hls["byte_range_playlist"] = json!("byte-range-multivariant.m3u8");
    }
    if let Some(duration) = duration_ms {
        hls["duration_ms"] = json!(duration);
    }
    let (height, width) = thumbnail_size(config);
    let mut out = json!({ "hls": hls });
    if storage(config, "SEQUENTIAL") {
        out["thumbnails"] = json!({ "path": "media/thumbnails", "resolution_height": height, "resolution_width": width });
    }
    if storage(config, "LATEST") {
        out["latest_thumbnail"] = json!({ "path": "media/latest_thumbnail/thumb.jpg", "resolution_height": height, "resolution_width": width });
    }
    out
}

fn iso(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Where one recording writes: its bucket (created if absent) in `region`.
pub struct Target<'a> {
    pub buckets: &'a mut BTreeMap<String, Bucket>,
    pub region: &'a str,
    pub channel_arn: &'a str,
    pub recording: &'a Recording,
    /// The recording configuration as it was when the broadcast started.
    pub config: &'a Value,
}

impl Target<'_> {
    fn put(&mut self, relative: &str, body: impl Into<axum::body::Bytes>, content_type: &str) {
        let key = format!("{}/{relative}", self.recording.prefix);
        s3::write(
            self.buckets,
            &self.recording.bucket,
            self.region,
            &key,
            body,
            content_type,
        );
    }

    fn put_json(&mut self, relative: &str, value: &Value) {
        let body = serde_json::to_vec_pretty(value).unwrap_or_default();
        self.put(relative, body, "application/json");
    }

    pub fn started(&mut self) {
        let metadata = json!({
            "version": "v1",
            "channel_arn": self.channel_arn,
            "recording_started_at": iso(&self.recording.started_at),
            "recording_status": "RECORDING_STARTED",
            "media": media(self.config, None, true),
        });
        self.put_json("events/recording-started.json", &metadata);
    }

    /// The media and `recording-ended.json`; with `failure`, no multivariant playlists and
    /// `recording-failed.json` carrying the reason.
    pub fn ended(&mut self, ended_at: &DateTime<Utc>, duration_ms: i64, failure: Option<&str>) {
        let segments = usize::try_from(duration_ms / 10_000)
            .unwrap_or(0)
            .clamp(1, 20);
        let chosen = renditions(self.config);
        for (path, _, _) in &chosen {
            for i in 0..segments {
                self.put(
                    &format!("media/hls/{path}/{i}.ts"),
                    vec![0x47u8; 188],
                    "video/MP2T",
                );
            }
            self.put(
                &format!("media/hls/{path}/playlist.m3u8"),
                variant(segments, false),
                "application/x-mpegURL",
            );
            self.put(
                &format!("media/hls/{path}/byte-range-variant.m3u8"),
                variant(segments, true),
                "application/x-mpegURL",
            );
        }
        if failure.is_none() {
            self.put(
                "media/hls/master.m3u8",
                multivariant(&chosen, "playlist.m3u8"),
                "application/x-mpegURL",
            );
            self.put(
                "media/hls/byte-range-multivariant.m3u8",
                multivariant(&chosen, "byte-range-variant.m3u8"),
                "application/x-mpegURL",
            );
        }
        self.thumbnails(duration_ms);
        let mut metadata = json!({
            "version": "v1",
            "channel_arn": self.channel_arn,
            "recording_ended_at": iso(ended_at),
            "recording_started_at": iso(&self.recording.started_at),
            "recording_status": if failure.is_some() { "RECORDING_ENDED_WITH_FAILURE" } else { "RECORDING_ENDED" },
            "media": media(self.config, Some(duration_ms), failure.is_none()),
        });
        match failure {
            Some(reason) => {
                metadata["recording_status_message"] = json!(reason);
                self.put_json("events/recording-failed.json", &metadata);
            }
            None => self.put_json("events/recording-ended.json", &metadata),
        }
    }

    fn thumbnails(&mut self, duration_ms: i64) {
        let interval = self.config["thumbnailConfiguration"]["targetIntervalSeconds"]
            .as_i64()
            .unwrap_or(60)
            .max(1);
        let count = (duration_ms / 1000 / interval + 1).clamp(1, 100);
        if storage(self.config, "SEQUENTIAL") {
            for i in 0..count {
                self.put(
                    &format!("media/thumbnails/thumb{i}.jpg"),
                    JPEG,
                    "image/jpeg",
                );
            }
        }
        if storage(self.config, "LATEST") {
            self.put("media/latest_thumbnail/thumb.jpg", JPEG, "image/jpeg");
        }
    }
}

/// The smallest JPEG framing (SOI, APP0 "JFIF", EOI): enough for a content sniffer.
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xD9,
];

fn multivariant(renditions: &[Rendition], playlist: &str) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (path, height, width) in renditions {
        let bandwidth = u64::from(*height) * 4_000;
        out.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},CODECS=\"avc1.4D401F,mp4a.40.2\"\n{path}/{playlist}\n"
        ));
    }
    out
}

fn variant(segments: usize, byte_range: bool) -> String {
    let version = if byte_range { 4 } else { 3 };
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    for i in 0..segments {
        out.push_str("#EXTINF:10.0,\n");
        if byte_range {
            out.push_str("#EXT-X-BYTERANGE:188@0\n");
        }
        out.push_str(&format!("{i}.ts\n"));
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_media_follow_the_user_guide() {
        let at = DateTime::parse_from_rfc3339("2020-06-23T20:12:36Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            prefix("123456789012", "AbCdef1G2hij", &at, "j8Z9O91ndcVs"),
            "ivs/v1/123456789012/AbCdef1G2hij/2020/6/23/20/12/j8Z9O91ndcVs"
        );
        let config = json!({
            "renditionConfiguration": {"renditionSelection": "CUSTOM", "renditions": ["HD", "SD"]},
            "thumbnailConfiguration": {"recordingMode": "INTERVAL", "targetIntervalSeconds": 30, "storage": ["LATEST"]},
        });
        let media = media(&config, Some(1000), true);
        let paths: Vec<&str> = media["hls"]["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, ["480p30", "720p60"]);
        assert_eq!(media["hls"]["duration_ms"], 1000);
        assert!(media.get("thumbnails").is_none());
        assert_eq!(
            media["latest_thumbnail"]["path"],
            "media/latest_thumbnail/thumb.jpg"
        );
    }
}
