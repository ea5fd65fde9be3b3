//! zsync control files and block reuse: which blocks of a new file a local
//! file (the AppImage an app variant was installed from) already holds.
//!
//! A control file (zsync 0.6, as `zsyncmake` writes it) is a header of
//! `Key: value` lines, a blank line, then for each block of `Blocksize`
//! bytes of the file (the last one padded with zeros) the trailing
//! `rsum_bytes` of its rolling checksum (two big-endian 16-bit sums `a`,
//! `b`) and the first `checksum_bytes` of its MD4, per `Hash-Lengths:
//! seq_matches,rsum_bytes,checksum_bytes`. The local file is scanned with
//! the rolling checksum; a window whose checksum and MD4 prefix match a
//! block is that block, and with `seq_matches` 2 a match counts only next
//! to a match of the neighbouring block, as zsync does. What no window
//! gives is fetched with HTTP range requests; the caller checks the whole
//! result against the header's SHA-1.

use std::collections::HashMap;

/// The header of a zsync control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zsync {
    pub filename: Option<String>,
    pub length: u64,
    /// Where the file is, resolved against the control file's URL.
    pub url: String,
    /// Lowercase hex.
    pub sha1: String,
    /// `None` when the header has no (usable) `Blocksize`: no block reuse.
    pub blocksize: Option<usize>,
    /// `seq_matches`, `rsum_bytes`, `checksum_bytes`.
    pub hash_lengths: (usize, usize, usize),
    /// Where the block checksums start.
    pub body: usize,
}

/// Read the header of a zsync control file (`Key: value` lines up to the
/// first blank line).
pub fn parse(bytes: &[u8], zsync_url: &str) -> Result<Zsync, String> {
    let end = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or("it is not a zsync control file (no header)")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.lines();
    if !lines.next().is_some_and(|l| l.starts_with("zsync:")) {
        return Err("it is not a zsync control file (it does not start with `zsync:`)".into());
    }
    let (mut filename, mut length, mut url, mut sha1) = (None, None, None, None);
    let (mut blocksize, mut hash_lengths, mut bad_lengths) = (None, (1, 4, 16), false);
    for l in lines {
        let Some((k, v)) = l.split_once(':') else { continue };
        let v = v.trim();
        match k {
            "Filename" => filename = Some(v.to_string()),
            "Length" => {
                length = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("its Length `{v}` is not a number"))?,
                )
            }
            "URL" if url.is_none() => url = Some(v.to_string()),
            "SHA-1" => {
                if v.len() != 40 || !v.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("its SHA-1 `{v}` is not 40 hex digits"));
                }
                sha1 = Some(v.to_ascii_lowercase());
            }
            "Blocksize" => {
                blocksize = v
                    .parse::<usize>()
                    .ok()
                    .filter(|b| b.is_power_of_two() && (64..=1 << 20).contains(b))
            }
            "Hash-Lengths" => {
                let n: Vec<usize> = v.split(',').filter_map(|x| x.trim().parse().ok()).collect();
                match n.as_slice() {
                    [s, r, c] if (1..=2).contains(s) && (1..=4).contains(r) && (3..=16).contains(c) => {
                        hash_lengths = (*s, *r, *c)
                    }
                    _ => bad_lengths = true,
                }
            }
            _ => {}
        }
    }
    let base = reqwest::Url::parse(zsync_url).map_err(|e| e.to_string())?;
    let rel = url
        .or(filename.clone())
        .ok_or("its header has no URL and no Filename")?;
    let url = base
        .join(&rel)
        .map_err(|e| format!("its URL `{rel}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("its URL `{url}` is not http or https"));
    }
    Ok(Zsync {
        filename,
        length: length.ok_or("its header has no Length")?,
        url: url.to_string(),
        sha1: sha1.ok_or("its header has no SHA-1")?,
        // Without the lengths the checksums cannot be read: whole file.
        blocksize: blocksize.filter(|_| !bad_lengths),
        hash_lengths,
        body: end + 2,
    })
}

/// For each block of the new file, where the local file `seed` holds it
/// (an offset into `seed`), if anywhere.
pub fn find_blocks(seed: &[u8], control: &[u8], z: &Zsync) -> Result<Vec<Option<usize>>, String> {
    let bs = z.blocksize.ok_or("the control file has no usable Blocksize")?;
    let (seq, rb, cb) = z.hash_lengths;
    let n = z.length.div_ceil(bs as u64) as usize;
    let sums = control.get(z.body..).unwrap_or_default();
    if sums.len() < n * (rb + cb) {
        return Err(format!(
            "the control file holds {} bytes of block checksums, not the {} of {n} blocks",
            sums.len(),
            n * (rb + cb)
        ));
    }
    let mask: u32 = if rb >= 4 { !0 } else { (1u32 << (8 * rb)) - 1 };
    let mut table: HashMap<u32, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let rec = &sums[i * (rb + cb)..(i + 1) * (rb + cb)];
        let r = rec[..rb].iter().fold(0u32, |acc, &b| (acc << 8) | b as u32);
        table.entry(r & mask).or_default().push(i);
    }
    let checksum = |i: usize| &sums[i * (rb + cb) + rb..(i + 1) * (rb + cb)];
    // The last block of the new file is padded with zeros: so is the seed.
    let mut data = Vec::with_capacity(seed.len() + bs);
    data.extend_from_slice(seed);
    data.resize(seed.len() + bs, 0);
    let mut found: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut x = 0usize;
    let (mut a, mut b) = rsum(&data[..bs]);
    while x + bs <= data.len() {
        let key = ((a as u32) << 16 | b as u32) & mask;
        let mut matched = false;
        if let Some(blocks) = table.get(&key) {
            let sum = md4(&data[x..x + bs]);
            for &i in blocks {
                if sum[..cb] == *checksum(i) {
                    found[i].push(x);
                    matched = true;
                }
            }
        }
        if matched && x + 2 * bs <= data.len() {
            // Past the block: the next one is most likely right after it.
            x += bs;
            (a, b) = rsum(&data[x..x + bs]);
            continue;
        }
        if x + bs == data.len() {
            break;
        }
        let (old, new) = (data[x] as u16, data[x + bs] as u16);
        a = a.wrapping_sub(old).wrapping_add(new);
        b = b.wrapping_add(a).wrapping_sub((old as u32 * bs as u32) as u16);
        x += 1;
    }
    let at = |i: usize, off: usize| found.get(i).is_some_and(|f| f.contains(&off));
    Ok((0..n)
        .map(|i| {
            found[i].iter().copied().find(|&off| {
                seq < 2 || n == 1 || (i + 1 < n && at(i + 1, off + bs)) || (i > 0 && off >= bs && at(i - 1, off - bs))
            })
        })
        .collect())
}

/// The byte ranges (start, end exclusive) of the new file no block of the
/// seed gives, neighbours merged.
pub fn missing_ranges(blocks: &[Option<usize>], z: &Zsync) -> Vec<(u64, u64)> {
    let bs = z.blocksize.unwrap_or(1) as u64;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if b.is_some() {
            continue;
        }
        let (s, e) = (i as u64 * bs, ((i as u64 + 1) * bs).min(z.length));
        match out.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
    out
}

/// zsync's rolling checksum of one window.
fn rsum(w: &[u8]) -> (u16, u16) {
    let len = w.len();
    let (mut a, mut b) = (0u16, 0u16);
    for (i, &c) in w.iter().enumerate() {
        a = a.wrapping_add(c as u16);
        b = b.wrapping_add(((len - i) as u32 * c as u32) as u16);
    }
    (a, b)
}

/// MD4 (RFC 1320), the block checksum of zsync.
pub fn md4(data: &[u8]) -> [u8; 16] {
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = Vec::with_capacity(data.len() + 72);
    msg.extend_from_slice(data);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
    type Round = fn(u32, u32, u32) -> u32;
    let rounds: [(Round, u32, [usize; 16], [u32; 4]); 3] = [
        (
            |x, y, z| (x & y) | (!x & z),
            0,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            [3, 7, 11, 19],
        ),
        (
            |x, y, z| (x & y) | (x & z) | (y & z),
            0x5a82_7999,
            [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15],
            [3, 5, 9, 13],
        ),
        (
            |x, y, z| x ^ y ^ z,
            0x6ed9_eba1,
            [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15],
            [3, 9, 11, 15],
        ),
    ];
    for chunk in msg.chunks_exact(64) {
        let mut x = [0u32; 16];
        for (i, w) in chunk.chunks_exact(4).enumerate() {
            x[i] = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        let mut v = h;
        for (f, k, order, shifts) in rounds {
            for (step, &xi) in order.iter().enumerate() {
                // a, d, c, b, a, d, ...: each step updates the register
                // before the previous one.
                let t = (4 - step % 4) % 4;
                let val = v[t]
                    .wrapping_add(f(v[(t + 1) % 4], v[(t + 2) % 4], v[(t + 3) % 4]))
                    .wrapping_add(x[xi])
                    .wrapping_add(k);
                v[t] = val.rotate_left(shifts[step % 4]);
            }
        }
        for (hi, vi) in h.iter_mut().zip(v) {
            *hi = hi.wrapping_add(vi);
        }
    }
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md4_test_vectors() {
        for (input, digest) in [
            ("", "31d6cfe0d16ae931b73c59d7e0c089c0"),
            ("abc", "a448017aaf21d8525fc10ae87aa6729d"),
            ("message digest", "d9130a8164549fe818874806e1c7014b"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "e33b4ddc9c38f2199c3e7b164fcc0536",
            ),
        ] {
            assert_eq!(hex::encode(md4(input.as_bytes())), digest, "{input:?}");
        }
    }

    #[test]
    fn rolling_equals_fresh() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let bs = 64;
        let (mut a, mut b) = rsum(&data[..bs]);
        for x in 0..data.len() - bs {
            let (old, new) = (data[x] as u16, data[x + bs] as u16);
            a = a.wrapping_sub(old).wrapping_add(new);
            b = b.wrapping_add(a).wrapping_sub((old as u32 * bs as u32) as u16);
            assert_eq!((a, b), rsum(&data[x + 1..x + 1 + bs]), "at {x}");
        }
    }

    /// A control file as zsyncmake writes it, for `file`.
    fn control(file: &[u8], bs: usize, (seq, rb, cb): (usize, usize, usize)) -> Vec<u8> {
        let mut out = format!(
            "zsync: 0.6.2\nFilename: f\nBlocksize: {bs}\nLength: {}\nHash-Lengths: {seq},{rb},{cb}\nURL: f\nSHA-1: {}\n\n",
            file.len(),
            "0".repeat(40)
        )
        .into_bytes();
        for block in file.chunks(bs) {
            let mut b = block.to_vec();
            b.resize(bs, 0);
            let (a, s) = rsum(&b);
            let r = [(a >> 8) as u8, a as u8, (s >> 8) as u8, s as u8];
            out.extend_from_slice(&r[4 - rb..]);
            out.extend_from_slice(&md4(&b)[..cb]);
        }
        out
    }

    #[test]
    fn blocks_are_found_where_they_moved() {
        let old: Vec<u8> = (0..10_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // New: 100 bytes inserted at the front, a changed middle, the tail cut.
        let mut new = vec![1u8; 100];
        new.extend_from_slice(&old[..4000]);
        new.extend_from_slice(&[9u8; 300]);
        new.extend_from_slice(&old[4300..9000]);
        for hl in [(1, 4, 16), (2, 2, 4)] {
            let c = control(&new, 256, hl);
            let z = parse(&c, "http://h/x.zsync").unwrap();
            let blocks = find_blocks(&old, &c, &z).unwrap();
            // Every block found reads as the new file's block.
            for (i, b) in blocks.iter().enumerate() {
                if let Some(off) = b {
                    let s = i * 256;
                    let e = (s + 256).min(new.len());
                    assert_eq!(old[*off..*off + (e - s)], new[s..e], "block {i}");
                }
            }
            let reused = blocks.iter().filter(|b| b.is_some()).count();
            assert!(reused >= 30, "{hl:?}: only {reused} of {} blocks", blocks.len());
            let missing = missing_ranges(&blocks, &z);
            assert!(missing.iter().any(|&(s, _)| s == 0), "{missing:?}");
            assert_eq!(missing.last().map(|r| r.1 <= new.len() as u64), Some(true));
        }
    }

    #[test]
    fn headers() {
        let text = b"zsync: 0.6.2\nFilename: App-2.AppImage\nMTime: x\nBlocksize: 2048\nLength: 1234\nHash-Lengths: 2,2,5\nURL: App-2.AppImage\nSHA-1: 0123456789ABCDEF0123456789abcdef01234567\n\n\x00\x01binary";
        let z = parse(text, "http://h/dir/App.zsync").unwrap();
        assert_eq!(z.url, "http://h/dir/App-2.AppImage");
        assert_eq!(z.length, 1234);
        assert_eq!(z.sha1, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(z.filename.as_deref(), Some("App-2.AppImage"));
        assert_eq!((z.blocksize, z.hash_lengths), (Some(2048), (2, 2, 5)));
        assert_eq!(&text[z.body..z.body + 2], b"\x00\x01");
        assert!(parse(b"<html>\n\n", "http://h/x").unwrap_err().contains("zsync:"));
        assert!(parse(b"zsync: 1\nLength: 1\nURL: x\n\n", "http://h/x")
            .unwrap_err()
            .contains("SHA-1"));
        let abs = parse(
            b"zsync: 1\nLength: 1\nURL: https://o/f\nSHA-1: 0123456789abcdef0123456789abcdef01234567\n\n",
            "http://h/x",
        )
        .unwrap();
        assert_eq!((abs.url.as_str(), abs.blocksize), ("https://o/f", None));
    }
}
