//! `streamsim`: the command-line front end. No simulation logic lives here.

fn main() {
    println!("streamsim");
}
