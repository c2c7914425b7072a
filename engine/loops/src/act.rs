//! The activation a convolution applies to its own output before writing it (its epilogue),
//! and that activation's backward from the output alone.

use crate::{Out, tanh};

/// What follows the convolution's sum and bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    Linear,
    Relu,
    /// `c + a·tanh(b·x)` (see [`tanh::Affine`]).
    Tanh(tanh::Affine),
}

/// `y` [n, C] ← `act(y + bias)`, `bias` [C] added to every row.
pub fn forward(y: &mut [f32], bias: &[f32], act: Act) {
    let rows = y.chunks_exact_mut(bias.len());
    match act {
        Act::Linear => rows.for_each(|row| crate::add_into(row, bias)),
        Act::Relu => {
            for row in rows {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v = (*v + b).max(0.0);
                }
            }
        }
        Act::Tanh(f) => {
            rows.for_each(|row| crate::add_into(row, bias));
            tanh::forward_in_place(y, f);
        }
    }
}

/// `dx` ← `g · act'(x)`, from the output `y = act(x)`: ReLU passes the gradient where the
/// output is positive (as burn and PyTorch do), tanh scales it by `a·b·(1 − t²)`. Every value
/// of `dx` (as long as `g`) is written.
pub fn backward(dx: &mut [Out<f32>], g: &[f32], y: &[f32], act: Act) {
    assert!(dx.len() == g.len() && y.len() == g.len(), "lengths");
    match act {
        Act::Linear => dx.iter_mut().zip(g).for_each(|(dx, &g)| {
            dx.write(g);
        }),
        Act::Relu => relu_backward(dx, g, y),
        Act::Tanh(f) => tanh::backward(dx, y, g, f),
    }
}

fn relu_backward(dx: &mut [Out<f32>], g: &[f32], y: &[f32]) {
    for ((dx, &g), &y) in dx.iter_mut().zip(g).zip(y) {
        dx.write(if y > 0.0 { g } else { 0.0 });
    }
}
