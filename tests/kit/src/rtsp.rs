//! A real RTSP server for tests: H.264 from a slideshow of the shared photos, served by
//! gstreamer-rtsp-server on 127.0.0.1 and a free port, in a child process so tests can SIGKILL
//! it (a crashed camera) or SIGSTOP it (a frozen one).
//!
//! The child is the test binary itself, re-run with `ROLLCALL_TEST_RTSP` set: the integration
//! tests hold a test named [`CHILD_TEST`] that calls [`child_main`], and a bench (whose `main`
//! takes no test name) calls [`child_main`] first thing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test, by its full name in `tests/it`, that turns the re-run test binary into the server.
pub const CHILD_TEST: &str = "capture::rtsp_server_child";

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use opencv::core::{CV_8UC3, Mat, Rect, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

const ENV: &str = "ROLLCALL_TEST_RTSP";

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes `photos` letterboxed into `width` x `height` JPEGs named 000.jpg, 001.jpg... in `dir`.
pub fn make_slides(dir: &Path, photos: &[PathBuf], width: i32, height: i32) {
    make_slides_fitted(dir, photos, width, height, false)
}

/// Like [`make_slides`]; with `cover` each photo is fitted as `rollcall slideshow` fits it (whole,
/// on a blurred copy of itself filling the slide), so no border frames a face the way the edge of
/// a printed photo would.
pub fn make_slides_fitted(dir: &Path, photos: &[PathBuf], width: i32, height: i32, cover: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let show = rollcall::capture::slideshow::Slideshow {
        width: width as u32,
        height: height as u32,
        ..Default::default()
    };
    for (i, p) in photos.iter().enumerate() {
        let canvas = if cover {
            show.frame(p).unwrap()
        } else {
            let img = imgcodecs::imread(p.as_path(), imgcodecs::IMREAD_COLOR).unwrap();
            let s = (width as f64 / img.cols() as f64).min(height as f64 / img.rows() as f64);
            let (w, h) = ((img.cols() as f64 * s) as i32, (img.rows() as f64 * s) as i32);
            let mut small = Mat::default();
            imgproc::resize(&img, &mut small, Size::new(w, h), 0.0, 0.0, imgproc::INTER_AREA).unwrap();
            let mut canvas = Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(40.0)).unwrap();
            let mut roi = Mat::roi_mut(&mut canvas, Rect::new((width - w) / 2, (height - h) / 2, w, h)).unwrap();
            small.copy_to(&mut roi).unwrap();
            canvas
        };
        assert!(imgcodecs::imwrite(dir.join(format!("{i:03}.jpg")), &canvas, &Vector::new()).unwrap());
    }
}

/// The slideshow pipeline the server encodes: each slide for one second, `fps` frames a second.
fn launch_line(dir: &Path, fps: u32) -> String {
    format!(
        "( multifilesrc location=\"{}/%03d.jpg\" loop=true caps=image/jpeg,framerate=1/1 ! jpegdec ! videoconvert \
         ! videorate ! video/x-raw,framerate={fps}/1,format=I420 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=3000 \
         ! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )",
        dir.display()
    )
}

/// Serves forever if this process was started as the server child; returns otherwise.
pub fn child_main() {
    let Ok(args) = std::env::var(ENV) else { return };
    let mut parts = args.splitn(3, ':');
    let port = parts.next().unwrap().to_string();
    let fps: u32 = parts.next().unwrap().parse().unwrap();
    let dir = PathBuf::from(parts.next().unwrap());
    gst::init().unwrap();
    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = rtsp::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&launch_line(&dir, fps));
    factory.set_shared(true);
    server.mount_points().unwrap().add_factory("/cam", factory);
    let _id = server.attach(None).unwrap();
    eprintln!("rtsp test server on 127.0.0.1:{port}");
    main_loop.run();
    std::process::exit(0);
}

/// A running server child.
pub struct RtspServer {
    child: Option<Child>,
    port: u16,
    fps: u32,
    dir: PathBuf,
}

impl RtspServer {
    /// Starts a server for the slides in `dir` on a free port and waits until it accepts.
    pub fn start(dir: &Path, fps: u32) -> RtspServer {
        let mut s = RtspServer {
            child: None,
            port: free_port(),
            fps,
            dir: dir.to_path_buf(),
        };
        s.restart();
        s
    }

    /// The stream's URL.
    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// (Re)starts the child on the same port.
    pub fn restart(&mut self) {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV, format!("{}:{}:{}", self.port, self.fps, self.dir.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "RTSP test server did not come up on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: i32) {
        let pid = self.child.as_ref().expect("server not running").id() as i32;
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// SIGKILL: the camera dies mid-stream.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the camera freezes; its sockets stay open and say nothing.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after a freeze.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
