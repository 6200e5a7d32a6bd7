// Indirect calls: `dyn Trait` method calls through vtables (call_indirect in wasm) and
// function pointers chosen at run time, so the optimiser cannot devirtualise them.
trait Shape {
    fn area(&self) -> f64;
    fn scale(&mut self, k: f64);
    fn id(&self) -> u32;
}

struct Circle(f64);
struct Rect(f64, f64);
struct Tri(f64, f64, f64);

impl Shape for Circle {
    fn area(&self) -> f64 { 3.141592653589793 * self.0 * self.0 }
    fn scale(&mut self, k: f64) { self.0 *= k; }
    fn id(&self) -> u32 { 1 }
}
impl Shape for Rect {
    fn area(&self) -> f64 { self.0 * self.1 }
    fn scale(&mut self, k: f64) { self.0 *= k; self.1 /= k; }
    fn id(&self) -> u32 { 2 }
}
impl Shape for Tri {
    fn area(&self) -> f64 {
        let s = (self.0 + self.1 + self.2) * 0.5;
        (s * (s - self.0) * (s - self.1) * (s - self.2)).abs().sqrt()
    }
    fn scale(&mut self, k: f64) { self.0 *= k; self.1 *= k; self.2 *= k; }
    fn id(&self) -> u32 { 3 }
}

fn step_a(x: u32) -> u32 { x.wrapping_mul(3).wrapping_add(1) }
fn step_b(x: u32) -> u32 { x ^ (x >> 3) }
fn step_c(x: u32) -> u32 { x.rotate_left(7).wrapping_add(0x9E37) }

fn main() {
    let seed = std::env::args().count() as u64;
    let mut s = 12345u64 ^ seed;
    let mut shapes: Vec<Box<dyn Shape>> = Vec::new();
    for i in 0..1000 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        let x = 1.0 + ((s >> 40) % 100) as f64 / 10.0;
        shapes.push(match (s >> 33) % 3 {
            0 => Box::new(Circle(x)),
            1 => Box::new(Rect(x, x + 1.0)),
            _ => Box::new(Tri(x + 2.0, x + 2.5, x + 3.0)),
        });
        let _ = i;
    }
    let mut total = 0.0f64;
    let mut ids = 0u64;
    for round in 0..6000 {
        let k = if round % 2 == 0 { 1.001 } else { 1.0 / 1.001 };
        for sh in shapes.iter_mut() {
            total += sh.area();
            sh.scale(k);
            ids += sh.id() as u64;
        }
    }
    let steps: [fn(u32) -> u32; 3] = [step_a, step_b, step_c];
    let mut x = seed as u32;
    for i in 0..20_000_000u32 {
        x = steps[(x ^ i) as usize % 3](x);
    }
    println!("dyn {:.6e} ids {} x {:08x}", total, ids, x);
}
