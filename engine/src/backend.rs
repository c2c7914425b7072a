//! The two backends (burn's `flex` on the CPU, `cuda` on NVIDIA GPUs) and choosing between them.

use crate::events::{Device, DeviceChoice};
use burn::backend::Autodiff;
use burn::tensor::Tensor;

pub type Cpu = burn::backend::Flex;
pub type CpuAd = Autodiff<Cpu>;
pub type Gpu = burn::backend::Cuda;
pub type GpuAd = Autodiff<Gpu>;
pub type GpuDevice = burn::backend::cuda::CudaDevice;

#[derive(Debug, thiserror::Error)]
#[error(
    "--device cuda: no CUDA GPU answered ({0}). Fix: check `nvidia-smi` and the driver, or use \
     --device auto (falls back to the CPU) or --device cpu"
)]
pub struct NoCuda(String);

/// Turns a choice into a device. `auto` without a GPU gives the CPU and a one-line notice.
pub fn select(choice: DeviceChoice) -> Result<(Device, Option<String>), NoCuda> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, None)),
        DeviceChoice::Cuda => probe_cuda().map(|()| (Device::Cuda, None)).map_err(NoCuda),
        DeviceChoice::Auto => Ok(match probe_cuda() {
            Ok(()) => (Device::Cuda, None),
            Err(why) => (
                Device::Cpu,
                Some(format!("no CUDA GPU answered ({why}); training on the CPU")),
            ),
        }),
    }
}

/// Runs one tiny computation on GPU 0. The CUDA runtime panics when the driver library is
/// missing, so the attempt is isolated, and the panic message (not a backtrace on the screen)
/// becomes the reason.
fn probe_cuda() -> Result<(), String> {
    if std::env::var_os("CIFAR_TUI_NO_CUDA").is_some() {
        return Err("CIFAR_TUI_NO_CUDA is set".into());
    }
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let device = GpuDevice::new(0);
        let x = Tensor::<Gpu, 1>::ones([4], &device).sum();
        x.into_scalar()
    });
    std::panic::set_hook(hook);
    match result {
        Ok(4.0) => Ok(()),
        Ok(v) => Err(format!("test sum gave {v}, expected 4")),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .map(|s| s.as_str())
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("the CUDA runtime failed to start")
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(160)
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available_and_auto_never_fails() {
        assert_eq!(select(DeviceChoice::Cpu).unwrap(), (Device::Cpu, None));
        let (device, notice) = select(DeviceChoice::Auto).unwrap();
        // On a machine without a GPU (CI), auto must fall back with a notice.
        if device == Device::Cpu {
            assert!(notice.unwrap().contains("training on the CPU"));
        }
    }
}
