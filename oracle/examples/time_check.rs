fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();

    for threads in std::env::args()
        .nth(2)
        .map(|t| vec![t.parse().unwrap()])
        .unwrap_or(vec![1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2])
    {
        let t = std::time::Instant::now();
        let r = oracle::check_reader_on(text.as_bytes(), threads).unwrap();
        eprintln!("threads {threads}: {:?} valid={}", t.elapsed(), r.valid);
    }
}
#[allow(dead_code)]
fn parse_only(text: &str) {
    let t = std::time::Instant::now();
    let mut r = oracle::HistoryReader::new(text.as_bytes());
    let mut n = 0;
    while let Some(_) = r.next_view().unwrap() {
        n += 1;
    }
    eprintln!("parse only: {:?} {n}", t.elapsed());
    let events: Vec<_> = oracle::HistoryReader::new(text.as_bytes())
        .map(|e| e.unwrap().1)
        .collect();
    let t = std::time::Instant::now();
    let r = oracle::check_events(&events);
    eprintln!("check only: {:?} {}", t.elapsed(), r.valid);
    eprintln!("size of Event {}", std::mem::size_of::<oracle::Event>());
}
