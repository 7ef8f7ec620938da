vcl 4.1;
# vodkit's edge: Varnish 7.1 with Debian's varnish-vmod-digest, in front of the gateway.
#
# Playback tokens are checked here (signature, expiry, video), so a refused viewer never reaches
# the origin, and the objects every viewer sees alike (segments, poster, storyboard sprites) are
# cached once by path, whichever token fetched them. Playlists and storyboard.vtt carry the
# viewer's token in every URI (the origin rewrites them), so they stay keyed by the full URL.
# The origin is still asked with the viewer's token and checks it again. deploy/edge/README.md
# says how to install it.
#
# Two things come from the site, neither is in this file:
# - `vodkit-origin.vcl`, found on varnishd's vcl_path (/etc/varnish by default): the gateway, as
#   `backend origin { .host = "…"; .port = "…"; }`;
# - VODKIT_EDGE_PLAYBACK_KEY in varnishd's environment: the playback key (`vodkit edge-key`), the
#   HMAC key of playback tokens, derived from VODKIT_AUTH_SECRET. It verifies and mints playback
#   tokens only: an edge holding it cannot make user or upload tokens. Without it every playback
#   request is refused (503) rather than let through unchecked.

import std;
import digest;

include "vodkit-origin.vcl";

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    # our own bookkeeping headers: whatever a viewer sends under these names is dropped
    unset req.http.x-vodkit-cache;
    unset req.http.x-vodkit-token;
    unset req.http.x-vodkit-signed;
    unset req.http.x-vodkit-claims;
    unset req.http.x-vodkit-claim;
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) { return (synth(405, "PURGE from localhost only")); }
        call vodkit_classify;  # so that a path finds the one copy every viewer shares
        return (purge);
    }
    if (req.method == "BAN") {
        if (client.ip !~ purgers) { return (synth(405, "BAN from localhost only")); }
        if (!req.http.X-Ban-Url) { return (synth(400, "send X-Ban-Url")); }
        ban("obj.http.x-url ~ " + req.http.X-Ban-Url);
        return (synth(200, "banned"));
    }
    if (req.url ~ "^/videos/" && (req.method == "GET" || req.method == "HEAD")) {
        call vodkit_check_token;
        if (req.url ~ "^/videos/[^/?]+/keys/") {
            # an encrypted video's keys: checked here, never kept, whatever the answer says (a key in
            # a cache would open the segments to whoever reached it; docs/encryption.md)
            return (pass);
        }
        call vodkit_classify;
        # a cookie or Authorization header changes nothing the origin answers here: the token decides
        return (hash);
    }
    # anything else (the API, the web page, other methods) is not the edge's to keep: Varnish's
    # builtin rules would keep an API answer sent without Authorization or a cookie (an upload's
    # state, a tus offset) for two minutes
    return (pass);
}

# 403 unless the request's `token` is a playback token of this path's video, signed with the
# playback key and not expired: the checks of the gateway's playback._authorised, at the edge.
sub vodkit_check_token {
    if (std.getenv("VODKIT_EDGE_PLAYBACK_KEY") !~ "^[0-9a-f]{64}$") {
        return (synth(503, "this edge has no playback key (VODKIT_EDGE_PLAYBACK_KEY)"));
    }
    # the first `token` parameter, as the origin reads it
    set req.http.x-vodkit-token = regsub(req.url, "^[^?]*\?(?:[^&]*&)*?token=([^&]*).*$", "\1");
    if (req.http.x-vodkit-token !~ "^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$") {
        return (synth(403, "playback needs ?token=... from the video's playbackUrl"));
    }
    set req.http.x-vodkit-signed = regsub(req.http.x-vodkit-token, "\.[^.]*$", "");
    # HS256 over "header.payload"; both sides are HMACed again before comparing, so the time a
    # string comparison takes tells nothing about how much of a forged signature was right
    if (digest.hmac_sha256(std.getenv("VODKIT_EDGE_PLAYBACK_KEY"),
            digest.base64url_nopad_hex(digest.hmac_sha256(std.getenv("VODKIT_EDGE_PLAYBACK_KEY"),
                req.http.x-vodkit-signed)))
        != digest.hmac_sha256(std.getenv("VODKIT_EDGE_PLAYBACK_KEY"),
            regsub(req.http.x-vodkit-token, "^.*\.", ""))) {
        return (synth(403, "invalid playback token: signature verification failed"));
    }
    # signed by the origin, so the claims are the origin's compact JSON: {"videoId":…,"iat":…,"exp":…}
    set req.http.x-vodkit-claims = digest.base64url_nopad_decode(regsub(req.http.x-vodkit-signed, "^[^.]*\.", ""));
    if (req.http.x-vodkit-claims !~ {""exp":[0-9]+[,}]"}) {
        return (synth(403, "invalid playback token: no expiry"));
    }
    set req.http.x-vodkit-claim = regsub(req.http.x-vodkit-claims, {"^.*"exp":([0-9]+)[,}].*$"}, "\1");
    if (std.integer(s=req.http.x-vodkit-claim, fallback=0) < std.integer(time=now)) {
        return (synth(403, "invalid playback token: Signature has expired."));
    }
    if (req.http.x-vodkit-claims !~ {""videoId":"[^"]+""}) {
        return (synth(403, "playback token lacks videoId"));
    }
    set req.http.x-vodkit-claim = regsub(req.http.x-vodkit-claims, {"^.*"videoId":"([^"]+)".*$"}, "\1");
    if (req.http.x-vodkit-claim != regsub(req.url, "^/videos/([^/?]*).*$", "\1")) {
        return (synth(403, "the playback token is for another video"));
    }
    unset req.http.x-vodkit-token;  # the origin reads the token from the URL, as always
    unset req.http.x-vodkit-signed;
    unset req.http.x-vodkit-claims;
    unset req.http.x-vodkit-claim;
}

# x-vodkit-cache: "shared" for what every viewer gets alike, keyed by the path alone; "per-token"
# for what the origin rewrites per token (playlists, storyboard.vtt) and anything else under
# /videos/, keyed by the full URL. The origin gets the header too and ignores it.
sub vodkit_classify {
    if (req.url ~ "^/videos/[^/?]+/(poster\.jpg|storyboard/sprite_[0-9]{3}\.jpg|[^/?]+/(seg_[0-9]{5}\.(ts|m4s)|init\.mp4))(\?|$)") {
        set req.http.x-vodkit-cache = "shared";
    } else if (req.url ~ "^/videos/") {
        set req.http.x-vodkit-cache = "per-token";
    }
}

sub vcl_hash {
    # one origin behind this edge: the Host is left out, so a purger's PURGE finds what viewers cached
    if (req.http.x-vodkit-cache == "shared") {
        hash_data(regsub(req.url, "\?.*$", ""));
        return (lookup);
    }
    if (req.http.x-vodkit-cache == "per-token") {
        hash_data(req.url);
        return (lookup);
    }
}

sub vcl_backend_response {
    # what BAN expressions match (cdn-purge: a regex over paths, any query string after them)
    if (bereq.http.x-vodkit-cache == "shared") {
        set beresp.http.x-url = regsub(bereq.url, "\?.*$", "");
    } else {
        set beresp.http.x-url = bereq.url;
    }
    if (bereq.http.x-vodkit-cache && beresp.status >= 400) {
        # a refusal or an error is never kept (a 404 now may be a segment a moment later), and
        # for one second the next requests go to the origin on their own
        set beresp.ttl = 1s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    if (bereq.http.x-vodkit-cache == "per-token") {
        # never longer than the origin says (a live-style EVENT playlist says max-age=1), and
        # never served stale: the default TTL is for origins that say nothing, this one does
        if (beresp.http.Cache-Control !~ "(?i)(^|[ ,])(s-maxage|max-age)=" && !beresp.http.Expires) {
            set beresp.ttl = 0s;
        }
        if (beresp.ttl > 30s) {
            set beresp.ttl = 30s;
        }
        set beresp.grace = 0s;
        set beresp.keep = 0s;
    }
}

sub vcl_deliver {
    if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; }
    unset resp.http.x-url;
}

sub vcl_synth {
    # a refusal in the gateway's error shape, short; a player on another site may read it.
    # Anything else ("banned") gets the builtin page.
    if (resp.status >= 400) {
        set resp.http.x-code = "error";
        if (resp.status == 400) { set resp.http.x-code = "bad_request"; }
        if (resp.status == 403) { set resp.http.x-code = "forbidden"; }
        if (resp.status == 405) { set resp.http.x-code = "method_not_allowed"; }
        if (resp.status == 503) { set resp.http.x-code = "unavailable"; }
        set resp.body = {"{"error":{"code":""} + resp.http.x-code + {"","message":""} + resp.reason + {"""} + "}}";
        unset resp.http.x-code;
        set resp.http.Content-Type = "application/json; charset=utf-8";
        set resp.http.Cache-Control = "no-store";
        set resp.http.Access-Control-Allow-Origin = "*";
        return (deliver);
    }
}
