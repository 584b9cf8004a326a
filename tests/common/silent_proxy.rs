//! A TCP proxy that can fall silent, to test what the service does when AWS stops answering.

/// A TCP proxy between the service and the simulator that can fall silent: it keeps accepting
/// connections and reading requests but forwards and answers nothing, like a dropped route, a
/// stuck NAT or a half-open connection. Healing it lets bytes through again.
pub struct SilentProxy {
    pub endpoint: String,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SilentProxy {
    pub async fn spawn(upstream: &str) -> SilentProxy {
        use std::sync::atomic::{AtomicBool, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let silent = std::sync::Arc::new(AtomicBool::new(false));
        let gate = silent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let (up, down) = (gate.clone(), gate.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        if !up.load(Ordering::SeqCst)
                            && server_write.write_all(&buf[..n]).await.is_err()
                        {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                        if !down.load(Ordering::SeqCst)
                            && client_write.write_all(&buf[..n]).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        SilentProxy { endpoint, silent }
    }

    pub fn set_silent(&self, silent: bool) {
        self.silent
            .store(silent, std::sync::atomic::Ordering::SeqCst);
    }
}
